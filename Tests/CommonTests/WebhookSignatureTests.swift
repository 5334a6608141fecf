import Common
import Foundation
import Testing

@Suite struct WebhookSignatureTests {
    let body = Array(#"{"id":"evt_1","type":"webhook.test"}"#.utf8)

    @Test func theSignatureIsHMACSHA256OfTimestampDotBody() {
        // Computed independently: printf '1700000000.{"id":"evt_1","type":"webhook.test"}' | openssl dgst -sha256 -hmac whsec_test
        #expect(WebhookSignature.sign(secret: "whsec_test", timestamp: 1_700_000_000, body: body)
            == "684fbc8999ff13aa332102c10e23ad56af8cb3b34c5d3bcba8bf53317e5f6c33")
        let header = WebhookSignature.header(secrets: ["whsec_test"], timestamp: 1_700_000_000, body: body)
        #expect(header == "v1=" + WebhookSignature.sign(secret: "whsec_test", timestamp: 1_700_000_000, body: body))
        #expect(WebhookSignature.verify(header: header, secret: "whsec_test", timestamp: 1_700_000_000, body: body,
                                        now: Date(timeIntervalSince1970: 1_700_000_100)))
    }

    @Test func bothSecretsVerifyDuringARotation() {
        let header = WebhookSignature.header(secrets: ["whsec_new", "whsec_old"], timestamp: 1_700_000_000, body: body)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(header.split(separator: ",").count == 2)
        #expect(WebhookSignature.verify(header: header, secret: "whsec_new", timestamp: 1_700_000_000, body: body, now: now))
        #expect(WebhookSignature.verify(header: header, secret: "whsec_old", timestamp: 1_700_000_000, body: body, now: now))
        #expect(!WebhookSignature.verify(header: header, secret: "whsec_other", timestamp: 1_700_000_000, body: body, now: now))
    }

    @Test func replaysForgeriesAndChangesFail() {
        let header = WebhookSignature.header(secrets: ["whsec_test"], timestamp: 1_700_000_000, body: body)
        #expect(!WebhookSignature.verify(header: header, secret: "whsec_test", timestamp: 1_700_000_000, body: body,
                                         now: Date(timeIntervalSince1970: 1_700_000_301)), "older than five minutes")
        #expect(!WebhookSignature.verify(header: header, secret: "whsec_test", timestamp: 1_700_000_001, body: body,
                                         now: Date(timeIntervalSince1970: 1_700_000_001)), "another timestamp")
        #expect(!WebhookSignature.verify(header: header, secret: "whsec_test", timestamp: 1_700_000_000, body: body + [0x20],
                                         now: Date(timeIntervalSince1970: 1_700_000_000)), "another body")
        #expect(!WebhookSignature.verify(header: "v0=" + header.dropFirst(3), secret: "whsec_test", timestamp: 1_700_000_000, body: body,
                                         now: Date(timeIntervalSince1970: 1_700_000_000)), "unknown scheme")
    }
}
