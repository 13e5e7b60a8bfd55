package shared_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

func TestSchemaValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  shared.Config
		want string // "" for no error, else a part of the message
	}{
		{"all attributes", testConfig(), ""},
		{"only the required one", shared.Config{"dsn": "u:p@tcp(h:3306)/"}, ""},
		{"unknown attribute", shared.Config{"dsn": "x", "paralel": int64(2)}, `unknown attribute "paralel"; the attributes this source accepts are dsn, password, parallel, verify, label`},
		{"missing required", shared.Config{"label": "x"}, `missing required attribute "dsn"`},
		{"empty config", shared.Config{}, `missing required attribute "dsn"`},
		{"number for a string", shared.Config{"dsn": int64(3)}, `attribute "dsn" must be a string, got a number`},
		{"string for a number", shared.Config{"dsn": "x", "parallel": "4"}, `attribute "parallel" must be a number, got a string`},
		{"Go int for a number", shared.Config{"dsn": "x", "parallel": 4}, `attribute "parallel" must be a number, got a number`},
		{"string for a bool", shared.Config{"dsn": "x", "verify": "true"}, `attribute "verify" must be a bool, got a string`},
		{"null", shared.Config{"dsn": "x", "label": nil}, `attribute "label" must be a string, got null`},
		{"other type", shared.Config{"dsn": []string{"x"}}, `attribute "dsn" must be a string, got a []string`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := testSchema().Validate(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, shared.ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want an error wrapping ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigLookups(t *testing.T) {
	cfg := testConfig()
	if got := cfg.String("label", "def"); got != "nightly" {
		t.Errorf("String = %q", got)
	}
	if got := cfg.String("parallel", "def"); got != "def" {
		t.Errorf("String of a number = %q, want the fallback", got)
	}
	if got := cfg.Int("parallel", 1); got != 4 {
		t.Errorf("Int = %d", got)
	}
	if got := cfg.Int("absent", 7); got != 7 {
		t.Errorf("Int of an absent attribute = %d, want the fallback", got)
	}
	if got := cfg.Bool("verify", false); !got {
		t.Errorf("Bool = %v", got)
	}
}

func TestSchemaSecrets(t *testing.T) {
	cases := []struct {
		name string
		cfg  shared.Config
		want []string
	}{
		{"sensitive values", testConfig(), []string{testConfig()["dsn"].(string), testPassword}},
		{"empty secret left out", shared.Config{"dsn": "", "password": "pw123"}, []string{"pw123"}},
		{"no secrets", shared.Config{"label": "x", "parallel": int64(2)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := testSchema().Secrets(tc.cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Secrets = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	const dsn = "backup:pw-9f2k@tcp(db1:3306)/"
	cases := []struct {
		name    string
		msg     string
		secrets []string
		want    string
	}{
		{"whole secret", "dial " + dsn + ": refused", []string{dsn}, "dial [redacted]: refused"},
		{"password part of a DSN", "Access denied for backup (using password pw-9f2k)", []string{dsn}, "Access denied for backup (using password [redacted])"},
		{"every occurrence", "hunter22 then hunter22", []string{"hunter22"}, "[redacted] then [redacted]"},
		{"several secrets", "a=alpha1 b=beta22", []string{"alpha1", "beta22"}, "a=[redacted] b=[redacted]"},
		{"short secrets kept", "id ab in ab", []string{"ab"}, "id ab in ab"},
		{"empty secret ignored", "nothing to hide", []string{""}, "nothing to hide"},
		{"no secrets", "plain", nil, "plain"},
		{"not a DSN", "user@host and user", []string{"user@host"}, "[redacted] and user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := shared.Redact(tc.msg, tc.secrets...); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}
