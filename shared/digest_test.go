package shared_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/shared"
)

// digestOf digests every record but the trailer.
func digestOf(recs []*shared.Record) (sum []byte, n uint64) {
	d := shared.NewDigester()
	for _, r := range recs {
		d.Add(r)
	}
	return d.Sum(), d.Records()
}

func withoutTrailer(recs []*shared.Record) []*shared.Record { return recs[:len(recs)-1] }

func TestDigestIsDeterministic(t *testing.T) {
	a, na := digestOf(withoutTrailer(allRecords()))
	b, nb := digestOf(withoutTrailer(allRecords()))
	if !bytes.Equal(a, b) || na != nb {
		t.Fatalf("the same records digest differently: %x/%d, %x/%d", a, na, b, nb)
	}
	if na != uint64(len(allRecords())-2) { // neither the Progress nor the Trailer counts
		t.Errorf("Records = %d, want %d", na, len(allRecords())-2)
	}
	// Times are digested as instants: the zone does not matter.
	utc := normalized(allRecords())
	if c, _ := digestOf(withoutTrailer(utc)); !bytes.Equal(a, c) {
		t.Errorf("the same instants in another zone digest differently")
	}
}

// Changing any field of any digested record changes the digest; changing a Progress does not.
func TestDigestCoversEveryField(t *testing.T) {
	base, _ := digestOf(withoutTrailer(allRecords()))
	for i := range withoutTrailer(allRecords()) {
		probe := setField(t, allRecords()[i])
		for j := 0; j < probe.NumField(); j++ {
			recs := allRecords()
			v := setField(t, recs[i])
			name := v.Type().Name() + "." + v.Type().Field(j).Name
			t.Run(name, func(t *testing.T) {
				mutate(t, v.Field(j))
				got, _ := digestOf(withoutTrailer(recs))
				if progress := v.Type().Name() == "Progress"; bytes.Equal(got, base) != progress {
					if progress {
						t.Errorf("changing %s changed the digest; Progress is advisory", name)
					} else {
						t.Errorf("changing %s left the digest as it was", name)
					}
				}
			})
		}
	}
}

func mutate(t *testing.T, f reflect.Value) {
	t.Helper()
	if tm, ok := f.Interface().(time.Time); ok {
		f.Set(reflect.ValueOf(tm.Add(time.Nanosecond)))
		return
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "x")
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Uint32, reflect.Uint64:
		f.SetUint(f.Uint() + 1)
	case reflect.Int64, reflect.Int:
		f.SetInt(f.Int() + 1)
	case reflect.Slice:
		if f.Type().Elem().Kind() == reflect.Struct { // Header.Locations: change the first one's fields
			c := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
			reflect.Copy(c, f)
			for i := 0; i < c.Index(0).NumField(); i++ {
				mutate(t, c.Index(0).Field(i))
			}
			f.Set(c)
			return
		}
		if ss, ok := f.Interface().([]string); ok { // Header.MasterKeys
			ss = append([]string(nil), ss...)
			ss[len(ss)-1] += "x"
			f.Set(reflect.ValueOf(ss))
			return
		}
		b := bytes.Clone(f.Bytes())
		b[len(b)-1] ^= 1
		f.SetBytes(b)
	default:
		t.Fatalf("no mutation for a %s", f.Type())
	}
}

func TestDigestStructure(t *testing.T) {
	recs := withoutTrailer(allRecords())
	base, _ := digestOf(recs)
	cases := []struct {
		name string
		recs []*shared.Record
		same bool
	}{
		{"progress left out", withoutProgress(recs), true},
		{"progress added", append(append([]*shared.Record{}, recs...), &shared.Record{Progress: &shared.Progress{Phase: "done"}}), true},
		{"trailer ignored", allRecords(), true},
		{"record dropped", recs[1:], false},
		{"records reordered", append([]*shared.Record{recs[1], recs[0]}, recs[2:]...), false},
		{"record repeated", append([]*shared.Record{recs[0]}, recs...), false},
		// Length prefixes keep field boundaries: moving a byte between fields changes the digest.
		{"boundary moved", replaceFile(recs, &shared.FileChunk{Path: "mysql/general_log.CSV2", Offset: 4096, Data: []byte("025-03-14,row\n")}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := digestOf(tc.recs); bytes.Equal(got, base) != tc.same {
				t.Errorf("same digest = %v, want %v", !tc.same, tc.same)
			}
		})
	}
}

func withoutProgress(recs []*shared.Record) []*shared.Record {
	var out []*shared.Record
	for _, r := range recs {
		if r.Progress == nil {
			out = append(out, r)
		}
	}
	return out
}

func replaceFile(recs []*shared.Record, f *shared.FileChunk) []*shared.Record {
	out := append([]*shared.Record{}, recs...)
	for i, r := range out {
		if r.File != nil {
			out[i] = &shared.Record{File: f}
		}
	}
	return out
}

func TestDigestCheck(t *testing.T) {
	recs := allRecords()
	good := *recs[len(recs)-1].Trailer
	cases := []struct {
		name    string
		trailer func(t shared.Trailer) shared.Trailer
		want    string // "" for no error
	}{
		{"matching trailer", func(t shared.Trailer) shared.Trailer { return t }, ""},
		{"trailer counts more", func(t shared.Trailer) shared.Trailer { t.Records++; return t }, "the trailer counts 7 records, 6 arrived"},
		{"trailer counts fewer", func(t shared.Trailer) shared.Trailer { t.Records--; return t }, "the trailer counts 5 records, 6 arrived"},
		{"digest differs", func(t shared.Trailer) shared.Trailer {
			t.Digest = bytes.Clone(t.Digest)
			t.Digest[0] ^= 0xff
			return t
		}, "digest mismatch over 6 records"},
		{"no digest", func(t shared.Trailer) shared.Trailer { t.Digest = nil; return t }, "digest mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := shared.NewDigester()
			for _, r := range withoutTrailer(recs) {
				d.Add(r)
			}
			tr := tc.trailer(good)
			err := d.Check(&tr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
