# NBD_OPT_GO asking for BLOCK_SIZE, NAME and DESCRIPTION (full info),
# answered with every NBD_INFO kind, the export info last, and one info
# type the client does not know (which it must ignore).
config sr=0 ext=0 full_info=1 export=x
rx NBDMAGIC IHAVEOPT u16:3
tx u32:3
tx IHAVEOPT u32:7 u32:13 u32:1 "x" u16:3 u16:3 u16:1 u16:2
# NBD_INFO_NAME
rx OPTREPLY u32:7 u32:3 u32:11 u16:1 "canonical"
# NBD_INFO_DESCRIPTION
rx OPTREPLY u32:7 u32:3 u32:8 u16:2 "a disk"
# NBD_INFO_BLOCK_SIZE
rx OPTREPLY u32:7 u32:3 u32:14 u16:3 u32:512 u32:4096 u32:33554432
# an unknown information type, 42, with 5 bytes of its own
rx OPTREPLY u32:7 u32:3 u32:7 u16:42 0102030405
# NBD_INFO_EXPORT
rx OPTREPLY u32:7 u32:3 u32:12 u16:0 u64:2097152 u16:0x0001
expect state=HANDSHAKING known=1 size=2097152
rx OPTREPLY u32:7 u32:1 u32:0
expect state=READY size=2097152 eflags=1 block=512:4096:33554432
expect name=canonical description="a disk"
