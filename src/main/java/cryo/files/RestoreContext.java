package cryo.files;

import java.util.Map;

/**
 * What the restore halves of file kinds read from the image: the files on disk and pipe buffers by objref,
 * and cryo's fds for descriptions that led outside the tree (--inherit-fd, by description text).
 */
record RestoreContext(Map<Integer, FileRecord> files, Map<Integer, PipeRecord> pipes, Map<String, Integer> inheritFds) {
}
