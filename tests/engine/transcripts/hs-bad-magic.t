# A greeting whose first magic is wrong: the client dies without
# sending a byte.
rx 4e42444d41474944 IHAVEOPT u16:3
expect state=DEAD
