package cryo.mounts;

/** Path checks and joins for mount points and paths inside a tmpfs. */
final class MountPaths {
    private MountPaths() {
    }

    /** "/" or "/a/b": absolute, no empty, "." or ".." component, no trailing slash, no NUL. */
    static boolean absolute(String p) {
        return p.equals("/") || (p.startsWith("/") && relative(p.substring(1)));
    }

    /** "a/b" (or "" for the top): no leading or trailing slash, no empty, "." or ".." component, no NUL. */
    static boolean relative(String p) {
        if (p.isEmpty()) return true;
        if (p.indexOf('\0') >= 0) return false;
        for (String c : p.split("/", -1)) if (c.isEmpty() || c.equals(".") || c.equals("..")) return false;
        return true;
    }

    /** base + "/" + rest, where base is "" or absolute and rest absolute or relative ("/" and "" add nothing). */
    static String join(String base, String rest) {
        String r = rest.startsWith("/") ? rest.substring(1) : rest;
        if (r.isEmpty()) return base.isEmpty() ? "/" : base;
        return (base.endsWith("/") ? base : base + "/") + r;
    }

    /** True when path is under (or is) dir, both absolute. */
    static boolean under(String path, String dir) {
        return dir.equals("/") || path.equals(dir) || path.startsWith(dir + "/");
    }

    /** path relative to dir ("" when equal); path must be under dir. */
    static String relativeTo(String path, String dir) {
        if (path.equals(dir)) return "";
        return dir.equals("/") ? path.substring(1) : path.substring(dir.length() + 1);
    }

    /** The parent of a relative path ("" for a top-level name). */
    static String parentOf(String rel) {
        int i = rel.lastIndexOf('/');
        return i < 0 ? "" : rel.substring(0, i);
    }
}
