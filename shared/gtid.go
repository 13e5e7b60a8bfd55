package shared

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GTIDSet is a set of MySQL global transaction identifiers, tagged ones (8.3+) included, in
// the server's own text syntax: "uuid:1-5:7,uuid2:1-3:tag:1-2" (newlines, as the server
// prints long sets, are ignored). It is here, not in a MySQL library, because the host checks
// an archive's GTID coverage (ArchivePoint.Next, the timeline) without importing the source.
// The zero value is the empty set.
type GTIDSet struct {
	// m maps "uuid" or "uuid:tag" (lower case) to sorted, disjoint, non-adjacent intervals.
	m map[string][]gtidInterval
}

// gtidInterval is the half-open range [lo, hi) of transaction numbers.
type gtidInterval struct{ lo, hi uint64 }

// ParseGTIDSet reads a GTID set in MySQL's syntax; the error names the bad part.
func ParseGTIDSet(s string) (GTIDSet, error) {
	var set GTIDSet
	s = strings.NewReplacer("\n", "", "\r", "", " ", "", "\t", "").Replace(s)
	if s == "" {
		return set, nil
	}
	for _, entry := range strings.Split(s, ",") {
		parts := strings.Split(entry, ":")
		uuid := strings.ToLower(parts[0])
		if !validUUID(uuid) {
			return GTIDSet{}, fmt.Errorf("GTID set %q: %q is not a server uuid", abbreviateText(s), parts[0])
		}
		if len(parts) < 2 {
			return GTIDSet{}, fmt.Errorf("GTID set %q: %s has no transaction numbers", abbreviateText(s), uuid)
		}
		key := uuid
		for _, p := range parts[1:] {
			if p != "" && (p[0] == '_' || p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z') {
				key = uuid + ":" + strings.ToLower(p)
				continue
			}
			iv, err := parseGTIDInterval(p)
			if err != nil {
				return GTIDSet{}, fmt.Errorf("GTID set %q: %v", abbreviateText(s), err)
			}
			set.add(key, iv)
		}
	}
	return set, nil
}

func abbreviateText(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i, c := range u {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func parseGTIDInterval(p string) (gtidInterval, error) {
	a, b, ranged := strings.Cut(p, "-")
	lo, err := strconv.ParseUint(a, 10, 63)
	if err != nil || lo == 0 {
		return gtidInterval{}, fmt.Errorf("%q is not a transaction number or range", p)
	}
	hi := lo
	if ranged {
		if hi, err = strconv.ParseUint(b, 10, 63); err != nil || hi < lo {
			return gtidInterval{}, fmt.Errorf("%q is not a transaction number or range", p)
		}
	}
	return gtidInterval{lo, hi + 1}, nil
}

// add merges iv into key's intervals.
func (s *GTIDSet) add(key string, iv gtidInterval) {
	if s.m == nil {
		s.m = map[string][]gtidInterval{}
	}
	ivs := append(s.m[key], iv)
	slices.SortFunc(ivs, func(a, b gtidInterval) int {
		if a.lo < b.lo {
			return -1
		}
		if a.lo > b.lo {
			return 1
		}
		return 0
	})
	out := ivs[:0]
	for _, v := range ivs {
		if n := len(out); n > 0 && v.lo <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, v.hi)
			continue
		}
		out = append(out, v)
	}
	s.m[key] = out
}

// Union returns the transactions in s or o.
func (s GTIDSet) Union(o GTIDSet) GTIDSet {
	var u GTIDSet
	for _, x := range []GTIDSet{s, o} {
		for k, ivs := range x.m {
			for _, iv := range ivs {
				u.add(k, iv)
			}
		}
	}
	return u
}

// Intersect returns the transactions in both s and o.
func (s GTIDSet) Intersect(o GTIDSet) GTIDSet {
	var both GTIDSet
	for k, ivs := range o.m {
		for _, iv := range ivs {
			for _, have := range s.m[k] {
				if lo, hi := max(iv.lo, have.lo), min(iv.hi, have.hi); lo < hi {
					both.add(k, gtidInterval{lo, hi})
				}
			}
		}
	}
	return both
}

// Subtract returns the transactions in s that are not in o.
func (s GTIDSet) Subtract(o GTIDSet) GTIDSet {
	var out GTIDSet
	for k, ivs := range s.m {
		for _, iv := range ivs {
			rest := []gtidInterval{iv}
			for _, cut := range o.m[k] {
				var next []gtidInterval
				for _, r := range rest {
					if cut.hi <= r.lo || cut.lo >= r.hi {
						next = append(next, r)
						continue
					}
					if r.lo < cut.lo {
						next = append(next, gtidInterval{r.lo, cut.lo})
					}
					if cut.hi < r.hi {
						next = append(next, gtidInterval{cut.hi, r.hi})
					}
				}
				rest = next
			}
			for _, r := range rest {
				out.add(k, r)
			}
		}
	}
	return out
}

// Empty reports s holds no transaction.
func (s GTIDSet) Empty() bool {
	for _, ivs := range s.m {
		if len(ivs) > 0 {
			return false
		}
	}
	return true
}

// Contains reports every transaction of o is in s.
func (s GTIDSet) Contains(o GTIDSet) bool { return o.Subtract(s).Empty() }

// Equal reports s and o hold the same transactions.
func (s GTIDSet) Equal(o GTIDSet) bool { return s.Contains(o) && o.Contains(s) }

// Count is the number of transactions in s.
func (s GTIDSet) Count() uint64 {
	var n uint64
	for _, ivs := range s.m {
		for _, iv := range ivs {
			n += iv.hi - iv.lo
		}
	}
	return n
}

// String prints s in MySQL's syntax, uuids in order, each uuid's untagged intervals before
// its tags in order: the same set always prints the same.
func (s GTIDSet) String() string {
	keys := make([]string, 0, len(s.m))
	for k, ivs := range s.m {
		if len(ivs) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	last := ""
	for _, k := range keys {
		uuid, tag, _ := strings.Cut(k, ":")
		if uuid != last {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(uuid)
			last = uuid
		}
		if tag != "" {
			b.WriteString(":" + tag)
		}
		for _, iv := range s.m[k] {
			if iv.hi-iv.lo == 1 {
				fmt.Fprintf(&b, ":%d", iv.lo)
			} else {
				fmt.Fprintf(&b, ":%d-%d", iv.lo, iv.hi-1)
			}
		}
	}
	return b.String()
}
