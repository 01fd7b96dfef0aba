{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "5a33b5536850f060a0b0e6f40c8b75b8fe625d4ae780bed7b901cf131363b606",
 "signature": "MEYCIQCLlQrOoFdzCYc4Q5Pgt/fU13VJDcEs8xk85sREWvfx+QIhAK8GNlFaavUGZd9s5stqt51If2r8shXXe+oJ1vwNrWvx"
}
