//go:build !unix

package outbound

// canLock says whether this platform has the delivery lock: here it has
// not, so every process delivers, each message still claimed by one of
// them at a time (its lease), and dead leases are left to expire.
const canLock = false

func lockDelivery(string) (release func(), ok bool, err error) { return nil, false, nil }
