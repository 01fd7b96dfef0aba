{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "9bf80658beafbc4e8af7e0d41c3c3dfbc59a65b5778f27d1b05f359ad1ce7fae",
 "signature": "MEUCIQDfgGITraCLg52Sgiq77WRmfu+A/smlgWAIDWPIMAFy4wIgYLJXMEfEdCShtJnMM/7hqlhLvhoUda7+Hx2AYXk6FKU="
}
