package cryo.inet;

import cryo.image.ImageRecord;

/** The records of TCP sockets: TCP_SOCKET (the socket, its addresses and options) and TCP_STREAM (a connection's repair state and queues). */
public sealed interface TcpRecord extends ImageRecord permits TcpSocketRecord, TcpStreamRecord {
}
