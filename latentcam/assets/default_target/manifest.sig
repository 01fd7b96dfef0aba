{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "beccaa89af98da9637ec57d034989b077bbf29552c09cb75bf20d381cc50eae6",
 "signature": "MEYCIQDuHTs0sKALgO24ISi4opioN95XIoyxksi2Hwa5nhTC6wIhANfF9YFJxphECEE4jalbE7FvPOZDwivgkH45VSRaKMnl"
}
