/** cryo: checkpoint/restart of Linux process trees from user space. */
module cryo {
    exports cryo.memory;
    exports cryo.image;
    exports cryo.checkpoint;
    exports cryo.restart;
    exports cryo.sys;
}
