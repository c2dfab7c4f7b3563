# An option reply with a wrong magic number (fakesrv rep-bad-magic).
include go-sent.inc
rx 0003e889045565aa u32:7 u32:1 u32:0
expect state=DEAD
