package cryo.files;

import cryo.image.ImageRecord;

/** The records of epolls and eventfds beside their OPEN_FILE: EVENTFD and EPOLL_TARGET (EventLoops checks them). */
public sealed interface EventLoopRecord extends ImageRecord permits EventfdRecord, EpollTargetRecord {
}
