{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "df8f53a49cce81df4bc1e5b148092dd3303cce47515ef019ff919268799c91f3",
 "signature": "MEQCIELu8DGR/ZkR65BfM6vJeVIUrBkiwrSVQpPfgO/16xejAiA9YMumL1tOsFxnBAe3q/yD9QumD37KCq63DJIG1PmyTw=="
}
