package cryo.inet;

import cryo.image.ImageRecord;

/** The records of UDP sockets: UDP_SOCKET (one socket) and UDP_QUEUE (the datagrams waiting in its receive queue). */
public sealed interface UdpRecord extends ImageRecord permits UdpSocketRecord, UdpQueueRecord {
}
