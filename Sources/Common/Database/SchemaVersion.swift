/// The migration version this build's code expects. Services refuse to start on an older schema;
/// a test keeps this equal to the newest file in `migrations/`.
public enum SchemaVersion {
    public static let required = 8
}
