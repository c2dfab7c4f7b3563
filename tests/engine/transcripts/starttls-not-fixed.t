# TLS required against a server that is not fixed newstyle: STARTTLS
# cannot be sent, so the client gives up before sending any option.
config tls=require
rx NBDMAGIC IHAVEOPT u16:0
tx u32:0
expect state=DEAD error=ENOTSUP
