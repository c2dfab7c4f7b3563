# Oldstyle greeting: size, 32 bits of flags, 124 zero bytes, then
# transmission at once with simple replies; the client sends nothing
# before its first request.
rx NBDMAGIC OLDSTYLE u64:1048576 u32:0x0005 00*124
expect state=READY protocol=oldstyle size=1048576 eflags=5 known=1
expect structured=0 extended=0 hsflags=0
call pread 16 4096
tx REQUEST u16:0 u16:0 u64:1 u64:4096 u32:16
expect state=READY in_flight=1
rx SIMPLE u32:0 u64:1 "0123456789abcdef"
expect cmd=1 err=0 in_flight=0 state=READY
expect data=1 "0123456789abcdef"
call flush
tx REQUEST u16:0 u16:3 u64:2 u64:0 u32:0
rx SIMPLE u32:0 u64:2
expect cmd=2 err=0
