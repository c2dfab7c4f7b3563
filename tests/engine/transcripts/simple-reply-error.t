# Simple replies: an error reply (NBD_EIO) fails the command, and a
# reply for an unknown cookie kills the connection.
rx NBDMAGIC OLDSTYLE u64:1048576 u32:0x0001 00*124
call pread 4 0
call pread 4 4
tx REQUEST u16:0 u16:0 u64:1 u64:0 u32:4 REQUEST u16:0 u16:0 u64:2 u64:4 u32:4
rx SIMPLE u32:5 u64:1
expect cmd=1 err=EIO state=READY in_flight=1
rx SIMPLE u32:0 u64:99
expect state=DEAD cmd=2 err=ENOTCONN
