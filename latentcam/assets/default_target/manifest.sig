{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "5d095b510b116956a1a06721decfeca19776bb3fa0951e77369858e1d8c51356",
 "signature": "MEYCIQCzkEMfWJj2eA4N6PvUPgSackXuJbZybz6koHdeOzBYHAIhAJJq+QeXc+rWZrwc3j9utIObgzkNuOVubBKnNbL00qIO"
}
