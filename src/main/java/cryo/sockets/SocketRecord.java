package cryo.sockets;

import cryo.image.ImageRecord;

/** The records of sockets: SOCKET_UNIX (one socket) and SOCKET_QUEUE (what waits in its receive queue). */
public sealed interface SocketRecord extends ImageRecord permits UnixSocketRecord, SocketQueueRecord {
}
