{
 "format": "latentcam-bundle-signature",
 "version": 1,
 "alg": "es256",
 "manifest_sha256": "60443ff52cb4af006420fbe158c0f54ecddccc8cad2b3de4de895805e2113d64",
 "signature": "MEUCIAVbzGVdkmSdHcTI0fAGMslBbS6wwdL0VcFvZBNVEEzyAiEA7NJXxYJkNs/NXvQzs4oxWynUtAZm5fqFg8tik/4yE3c="
}
