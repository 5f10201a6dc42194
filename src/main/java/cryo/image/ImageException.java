package cryo.image;

/** An image that cannot be restored: names the record and the field that is wrong. */
public final class ImageException extends Exception {
    public ImageException(String message) {
        super(message);
    }
}
