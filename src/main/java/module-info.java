/** cryo: checkpoint/restart of Linux process trees from user space. */
module cryo {
    exports cryo.checkpoint;
    exports cryo.restart;
    exports cryo.image;
    exports cryo.task;
    exports cryo.memory;
    exports cryo.files;
    exports cryo.ipc;
    exports cryo.mounts;
    exports cryo.remote;
    exports cryo.sys;
    exports cryo.container;
    exports cryo.ns;
    exports cryo.timers;
    exports cryo.sockets;
    exports cryo.netlock;
    exports cryo.inet;
    exports cryo.tty;
    exports cryo.precopy;
    exports cryo.lazy;
    exports cryo.janitor;
}
