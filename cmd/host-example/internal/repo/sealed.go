package repo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// The metadata files a repository writes (snapshot files, archive records) share one
// envelope, so that one rule decides whether such a file can be trusted:
//
//	{
//	  "format": N,
//	  "sha256": "<SHA-256 of the bytes of the value below, exactly as they stand>",
//	  "<key>": { …the value… }
//	}

// sealJSON returns the envelope of v under key, in file format format.
func sealJSON(format int, key string, v any) ([]byte, error) {
	body, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"format\": %d,\n  \"sha256\": %q,\n  %q: %s\n}\n", format, hex.EncodeToString(sum[:]), key, body)
	return b.Bytes(), nil
}

// openSealed checks data's envelope (format what, value under key) and decodes the value into
// v. The error says what is wrong with the file.
func openSealed(data []byte, format int, what, key string, v any) error {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("it does not parse (%d bytes; truncated or overwritten?): %v", len(data), err)
	}
	var got int
	if err := json.Unmarshal(f["format"], &got); err != nil || got != format {
		return fmt.Errorf("it is of %s format %d, this host-example reads %d", what, got, format)
	}
	var recorded string
	json.Unmarshal(f["sha256"], &recorded)
	sum := sha256.Sum256(f[key])
	if h := hex.EncodeToString(sum[:]); h != recorded {
		return fmt.Errorf("its content does not match its checksum (SHA-256 %s, recorded %s): it was damaged or edited", h[:16], abbreviate(recorded, 16))
	}
	if err := json.Unmarshal(f[key], v); err != nil {
		return fmt.Errorf("its %s does not decode: %v", key, err)
	}
	return nil
}

func abbreviate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return fmt.Sprintf("%q", s)
}
