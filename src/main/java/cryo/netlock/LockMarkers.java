package cryo.netlock;

import cryo.janitor.Entry;
import cryo.janitor.Journal;

import java.io.IOException;

/**
 * The lock tables this cryo made and may have to lift, in its journal (cryo.janitor.Journal): journaled before
 * the table is made, retracted once it is gone or held. If this cryo is killed, its janitor removes the table
 * at once (unless held), and else any later cryo (cryo.janitor.Sweep).
 */
final class LockMarkers {
    private LockMarkers() {
    }

    static void create(String table) throws IOException {
        Journal.add(new Entry.LockTable(table));
    }

    /** The table is gone or held. */
    static void remove(String table) {
        Journal.retract(new Entry.LockTable(table));
    }
}
