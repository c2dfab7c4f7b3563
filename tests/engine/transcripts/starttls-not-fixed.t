# TLS required against a server that is not fixed newstyle: STARTTLS
# cannot be sent, so the client gives up at the greeting, before its
# own flags.
config tls=require
rx NBDMAGIC IHAVEOPT u16:0
expect state=DEAD error=ENOTSUP
