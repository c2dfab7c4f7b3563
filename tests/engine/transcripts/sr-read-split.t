# A chunk whose header and payload arrive in pieces cut anywhere, the
# magic and the cookie included.
include ready-structured-meta.inc
call pread 8 0
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:8
rx 668e
rx 33ef 0001 00
rx 01 0000000000
rx 000001 00000010 0000
rx 000000000000 "abc"
expect cmd=1 err=pending
rx "defgh"
expect cmd=1 err=0 data=1 "abcdefgh"
