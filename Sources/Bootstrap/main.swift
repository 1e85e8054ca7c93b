print("sealpost")
