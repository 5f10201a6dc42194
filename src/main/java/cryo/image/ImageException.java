package cryo.image;

/**
 * An image that cannot be restored: names the record and the field that is wrong, on one line. A string from
 * the image quoted in the message (a path, a name) may hold any byte: control characters are shown escaped
 * (\n, \x1b), so the message stays one line and cannot drive the terminal it is printed on.
 */
public final class ImageException extends Exception {
    public ImageException(String message) {
        super(oneLine(message));
    }

    static String oneLine(String s) {
        if (s == null) return "bad image";
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean control = c < 0x20 || (c >= 0x7f && c < 0xa0) || c == '\u2028' || c == '\u2029';
            if (control && b == null) b = new StringBuilder(s.length() + 16).append(s, 0, i);
            if (b == null) continue;
            if (!control) b.append(c);
            else if (c == '\n') b.append("\\n");
            else if (c == '\r') b.append("\\r");
            else if (c == '\t') b.append("\\t");
            else b.append(String.format("\\x%02x", (int) c));
        }
        return b == null ? s : b.toString();
    }
}
