package mysqlsrc_test

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// TestSuiteInProcess runs the behavioural suite against mysqlsrc directly.
func TestSuiteInProcess(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) shared.Source {
		return mysqlsrc.New(hclog.New(&hclog.LoggerOptions{Name: "mysqlsrc", Level: hclog.Info, Output: hclog.DefaultOutput}))
	})
}

func TestRedoOverrunInProcess(t *testing.T) {
	sourcetest.RunRedoOverrun(t, func(t *testing.T) shared.Source {
		return mysqlsrc.New(hclog.New(&hclog.LoggerOptions{Name: "mysqlsrc", Level: hclog.Debug}))
	})
}
