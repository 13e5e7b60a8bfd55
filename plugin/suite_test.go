package main

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/pagetrack/pagetrack/internal/sourcetest"
	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

// dispense serves mysqlsrc over an in-process go-plugin gRPC connection and returns the
// host-side client: every call crosses the proto conversion and status-code mapping.
func dispense(t *testing.T) shared.Source {
	client, server := plugin.TestPluginGRPCConn(t, true, map[string]plugin.Plugin{
		shared.PluginName: &shared.SourcePlugin{Impl: mysqlsrc.New(hclog.NewNullLogger())},
	})
	t.Cleanup(func() {
		client.Close()
		server.Stop()
	})
	raw, err := client.Dispense(shared.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(shared.Source)
}

// TestSuiteThroughPlugin runs the behavioural suite against mysqlsrc dispensed through the
// plugin boundary; mysqlsrc's own tests run it in process. It runs on the frames wire a host
// uses by default (backups over the bulk socket, restores in frame batches; shared's tests
// run the old wire): the suite's restores prove that wire restores exactly.
func TestSuiteThroughPlugin(t *testing.T) {
	var src shared.Source
	sourcetest.Run(t, func(t *testing.T) shared.Source {
		src = dispense(t)
		return src
	})
	if w := shared.LastWire(src); w != shared.WireBulk && w != shared.WireFrames {
		t.Errorf("the suite's last backup or restore went over the %s wire, want the frames wire", w)
	}
}

func TestRedoOverrunThroughPlugin(t *testing.T) { sourcetest.RunRedoOverrun(t, dispense) }
