package mysqlsrc

import "strconv"

// exact formats a large number (an LSN, a byte count, a binlog position) for logs. The plugin
// logs JSON that go-plugin decodes on the host side, where JSON numbers become float64: LSNs
// above 2^53 would lose digits and every large value would print as 1.79e+08. As a JSON
// string the value stays exact and readable.
type exact uint64

func (v exact) String() string               { return strconv.FormatUint(uint64(v), 10) }
func (v exact) MarshalJSON() ([]byte, error) { return []byte(`"` + v.String() + `"`), nil }
