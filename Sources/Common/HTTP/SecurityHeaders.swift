import HTTPTypes

extension HTTPField.Name {
    public static let xFrameOptions = HTTPField.Name("x-frame-options")!
    public static let referrerPolicy = HTTPField.Name("referrer-policy")!
}
