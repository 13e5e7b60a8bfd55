package mysqlsrc

import "strconv"

// lsn formats an LSN for logs. The plugin logs JSON that go-plugin decodes on the host side,
// where JSON numbers become float64 and LSNs above 2^53 (and the look of smaller ones, as
// 1.9e+07) would be lost; as a JSON string the value stays exact.
type lsn uint64

func (l lsn) String() string               { return strconv.FormatUint(uint64(l), 10) }
func (l lsn) MarshalJSON() ([]byte, error) { return []byte(`"` + l.String() + `"`), nil }
