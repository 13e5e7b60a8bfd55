package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagetrack/pagetrack/shared"
)

var testSchema = &shared.Schema{Attributes: []shared.Attribute{
	{Name: "dsn", Type: shared.TypeString, Required: true, Sensitive: true, Description: "server DSN"},
	{Name: "datadir", Type: shared.TypeString, Required: true, Description: "server datadir"},
	{Name: "parallel", Type: shared.TypeInt, Description: "reader threads"},
	{Name: "verify_pages", Type: shared.TypeBool, Description: "check page checksums"},
}}

const secret = "hunter2-very-secret"

var testEnv = map[string]string{
	"PT_DSN":   "backup:" + secret + "@tcp(127.0.0.1:3306)/",
	"PT_EMPTY": "",
}

func lookup(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

func parse(t *testing.T, src string) (*File, error) {
	t.Helper()
	return Parse([]byte(src), filepath.Join(t.TempDir(), "backup.hcl"), Options{LookupEnv: lookup})
}

// decode parses src, picks the only source block and decodes it with testSchema.
func decode(t *testing.T, src string) (shared.Config, error) {
	t.Helper()
	f, err := parse(t, src)
	if err != nil {
		return nil, err
	}
	s, err := f.Source("")
	if err != nil {
		return nil, err
	}
	return s.Decode(testSchema)
}

func TestGoodConfig(t *testing.T) {
	src := `
repository = "repo"
plugin "mysql" { path = "bin/pagetrack-mysql" }
source "mysql" "primary" {
  dsn          = env("PT_DSN")
  datadir      = "/var/lib/mysql"
  parallel     = 4
  verify_pages = true
}
`
	f, err := parse(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(f.Dir, "repo"); f.Repository != want {
		t.Errorf("repository = %q, want %q (relative to the config file)", f.Repository, want)
	}
	if p := f.Plugins["mysql"]; p == nil || p.Path != filepath.Join(f.Dir, "bin/pagetrack-mysql") {
		t.Errorf("plugin = %+v", p)
	}
	s, err := f.Source("primary")
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != "mysql" || s.Name != "primary" {
		t.Errorf("source = %s %s", s.Type, s.Name)
	}
	cfg, err := s.Decode(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := shared.Config{"dsn": testEnv["PT_DSN"], "datadir": "/var/lib/mysql", "parallel": int64(4), "verify_pages": true}
	if len(cfg) != len(want) {
		t.Errorf("config = %v, want %v", cfg, want)
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("%s = %#v (%T), want %#v (%T)", k, cfg[k], cfg[k], v, v)
		}
	}
	if err := testSchema.Validate(cfg); err != nil {
		t.Errorf("decoded config does not validate: %v", err)
	}
}

func TestOptionalAttributesAbsent(t *testing.T) {
	cfg, err := decode(t, `source "mysql" "a" {
  dsn = "x"
  datadir = "/d"
}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg["parallel"]; ok {
		t.Errorf("absent optional attribute decoded: %v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{
			name: "source name that is a path",
			src: `source "mysql" "../../etc" {
  dsn     = env("PT_DSN")
  datadir = "/var/lib/mysql"
}`,
			want: []string{"backup.hcl:1:16", `"../../etc"`, "not a simple name"},
		},
		{
			name: "source name with a slash",
			src: `source "mysql" "a/b" {
  dsn     = env("PT_DSN")
  datadir = "/var/lib/mysql"
}`,
			want: []string{"backup.hcl:1:16", `"a/b"`, "not a simple name"},
		},
		{
			name: "source type that is no plugin name",
			src: `source "My/SQL" "primary" {
  dsn     = env("PT_DSN")
  datadir = "/var/lib/mysql"
}`,
			want: []string{"backup.hcl:1:8", `"My/SQL"`, "not a plugin name"},
		},
		{
			name: "unknown attribute",
			src: `source "mysql" "primary" {
  dsn     = env("PT_DSN")
  datadir = "/var/lib/mysql"
  paralel = 4
}`,
			want: []string{"backup.hcl:4:3", `"paralel"`, `Did you mean "parallel"?`},
		},
		{
			name: "wrong type",
			src: `source "mysql" "primary" {
  dsn      = env("PT_DSN")
  datadir  = "/var/lib/mysql"
  parallel = "four"
}`,
			want: []string{"backup.hcl:4:14", `"parallel"`, "number"},
		},
		{
			name: "wrong type bool",
			src: `source "mysql" "primary" {
  dsn          = env("PT_DSN")
  datadir      = "/var/lib/mysql"
  verify_pages = [1]
}`,
			want: []string{"backup.hcl:4:18", `"verify_pages"`, "bool"},
		},
		{
			name: "not an integer",
			src: `source "mysql" "primary" {
  dsn      = env("PT_DSN")
  datadir  = "/var/lib/mysql"
  parallel = 2.5
}`,
			want: []string{"backup.hcl:4:14", `"parallel"`, "whole number"},
		},
		{
			name: "missing required attribute",
			src: `source "mysql" "primary" {
  dsn = env("PT_DSN")
}`,
			want: []string{"backup.hcl:1:26", `"datadir"`, "required"},
		},
		{
			name: "null required attribute",
			src: `source "mysql" "primary" {
  dsn     = env("PT_DSN")
  datadir = null
}`,
			want: []string{"backup.hcl:3:13", `"datadir"`, "required"},
		},
		{
			name: "missing source block",
			src:  `repository = "/backups"`,
			want: []string{"backup.hcl:1:1", "source"},
		},
		{
			name: "unset environment variable",
			src: `source "mysql" "primary" {
  dsn     = env("PT_NOT_SET")
  datadir = "/var/lib/mysql"
}`,
			want: []string{"backup.hcl:2:13", "PT_NOT_SET", "is not set"},
		},
		{
			name: "unknown top-level attribute",
			src:  `repo = "/backups"`,
			want: []string{"backup.hcl:1:1", `"repo"`},
		},
		{
			name: "syntax error",
			src:  "source \"mysql\" \"primary\" {\n  dsn = \n}",
			want: []string{"backup.hcl:2:"},
		},
		{
			name: "plugin without path",
			src:  "plugin \"mysql\" {\n}\nsource \"mysql\" \"a\" {}",
			want: []string{"backup.hcl:1:", `"path"`},
		},
		{
			name: "duplicate source name",
			src:  "source \"mysql\" \"a\" {}\nsource \"mysql\" \"a\" {}",
			want: []string{"backup.hcl:2:1", `"a"`, "backup.hcl:1:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is a %T, want *config.Error", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error shows the secret: %q", msg)
			}
		})
	}
}

func TestEnvFunction(t *testing.T) {
	cfg, err := decode(t, `source "mysql" "a" {
  dsn     = env("PT_DSN")
  datadir = "${env("PT_EMPTY")}/var/lib/mysql"
}`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["dsn"] != testEnv["PT_DSN"] {
		t.Errorf("dsn = %q", cfg["dsn"])
	}
	if cfg["datadir"] != "/var/lib/mysql" {
		t.Errorf("datadir = %q: an empty variable is allowed", cfg["datadir"])
	}

	// The real environment backs env() by default.
	t.Setenv("PT_REAL_ENV_TEST", "/from/env")
	f, err := Parse([]byte(`repository = env("PT_REAL_ENV_TEST")`), "x.hcl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Repository != "/from/env" {
		t.Errorf("repository = %q", f.Repository)
	}
}

func TestSourceSelection(t *testing.T) {
	f, err := parse(t, `
source "mysql" "primary" {}
source "mysql" "replica" {}
`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Source(""); err == nil || !strings.Contains(err.Error(), `"primary", "replica"`) || !strings.Contains(err.Error(), "--source") {
		t.Errorf("ambiguous source: %v", err)
	}
	if s, err := f.Source("replica"); err != nil || s.Name != "replica" {
		t.Errorf("Source(replica) = %v, %v", s, err)
	}
	if _, err := f.Source("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "backup.hcl:") {
		t.Errorf("unknown source: %v", err)
	}
}

// Secret values never appear in errors, even where a diagnostic would quote them.
func TestSecretsRedactedInErrors(t *testing.T) {
	e := &Error{secrets: []string{"backup:" + secret + "@tcp(db)/"}}
	e.Diags = append(e.Diags, attrDiag(testRange(), "Bad value", "The value backup:"+secret+"@tcp(db)/ is wrong; so is "+secret+"."))
	msg := e.Error()
	if strings.Contains(msg, secret) {
		t.Errorf("secret in %q", msg)
	}
	if !strings.Contains(msg, "[redacted]") {
		t.Errorf("no redaction marker in %q", msg)
	}

	// A decode error in a block with a sensitive value does not show it.
	_, err := decode(t, `source "mysql" "a" {
  dsn      = "backup:`+secret+`@tcp(db)/"
  datadir  = "/d"
  parallel = "`+secret+`"
}`)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error = %v", err)
	}
}

func TestSpecRejectsBadSchema(t *testing.T) {
	if _, err := Spec(&shared.Schema{Attributes: []shared.Attribute{{Name: "a", Type: 99}}}); err == nil {
		t.Error("unknown type accepted")
	}
	if _, err := Spec(&shared.Schema{Attributes: []shared.Attribute{{Name: "a", Type: shared.TypeInt}, {Name: "a", Type: shared.TypeInt}}}); err == nil {
		t.Error("duplicate attribute accepted")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.hcl"), Options{})
	if err == nil || !strings.Contains(err.Error(), "nope.hcl does not exist") {
		t.Errorf("err = %v", err)
	}
}

func testRange() hcl.Range {
	return hcl.Range{Filename: "x.hcl", Start: hcl.Pos{Line: 1, Column: 1, Byte: 0}, End: hcl.Pos{Line: 1, Column: 2, Byte: 1}}
}

func TestRetentionBlock(t *testing.T) {
	f, err := parse(t, "retention {\n  keep_last  = 7\n  keep_daily = 14\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Retention == nil || f.Retention.KeepLast != 7 || f.Retention.KeepDaily != 14 {
		t.Errorf("retention = %+v", f.Retention)
	}
	if f, err := parse(t, "retention {\n  keep_last = 2\n  keep_binlog_within = \"36h\"\n}"); err != nil || f.Retention.KeepBinlogWithin != 36*time.Hour {
		t.Errorf("keep_binlog_within: %+v, %v", f, err)
	}
	if d, err := ParseSpan("2w"); err != nil || d != 14*24*time.Hour {
		t.Errorf("ParseSpan(2w) = %v, %v", d, err)
	}
	if f, err := parse(t, `repository = "r"`); err != nil || f.Retention != nil {
		t.Errorf("no block: %+v, %v", f, err)
	}
	if f, err := parse(t, "retention { keep_daily = 3 }"); err != nil || f.Retention.KeepLast != 0 || f.Retention.KeepDaily != 3 {
		t.Errorf("keep_daily only: %+v, %v", f, err)
	}
	for _, tt := range []struct{ src, want string }{
		{"retention {\n  keep_last = -1\n}", "backup.hcl:2:15"},
		{"retention {\n  keep_last = 1.5\n}", "whole number"},
		{"retention {\n  keep_last = \"7\"\n}", "whole number"},
		{"retention {\n  keep_lats = 7\n}", `"keep_lats"`},
		{"retention {}", "keeps nothing"},
		{"retention { keep_last = 1 }\nretention { keep_last = 2 }", "backup.hcl:2:1"},
		{"retention {\n  keep_last = 1\n  keep_binlog_within = \"7\"\n}", "backup.hcl:3:24"},
		{"retention {\n  keep_last = 1\n  keep_binlog_within = \"0d\"\n}", "such as \"7d\""},
		{"retention {\n  keep_last = 1\n  keep_binlog_within = 7\n}", "such as \"7d\""},
	} {
		_, err := parse(t, tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.src, err, tt.want)
		}
	}
}
