# The server never answers the option (fakesrv rep-hang): the client
# keeps waiting, still handshaking, until the server hangs up.
include go-sent.inc
expect state=HANDSHAKING
eof
expect state=DEAD
