{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "978a93fcfbcb1cebf8f168102d919abddc3c6739f1e3e366cf471aed1826aa5d",
 "signature": "MEUCIQCPIq+lJw/657961I+8CiQOfNynxrYgBzf8JHmvOavUAgIgaXN0BOa74/3dtA9lkZvn5HHJfMK3SEPVZJwof3gNLJ4="
}
