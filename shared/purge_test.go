package shared_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pagetrack/pagetrack/shared"
)

func TestPurgeRoundTrip(t *testing.T) {
	both(t, func(t *testing.T, l link) {
		var got *shared.PurgeRequest
		f := &fake{purge: func(_ context.Context, req *shared.PurgeRequest) (*shared.PurgeResult, error) {
			got = req
			if req.FloorLSN == 0 {
				return nil, shared.InvalidConfig("floor 0 with dsn u:" + "hunter2" + "@tcp(x)/")
			}
			return &shared.PurgeResult{PurgedUpTo: req.FloorLSN - 1, Message: "purged 1 file"}, nil
		}}
		c := connect(t, l, f)
		cfg := shared.Config{"dsn": "u:hunter2@tcp(x)/", "datadir": "/d"}
		res, err := c.src.Purge(context.Background(), &shared.PurgeRequest{Config: cfg, FloorLSN: 9007199254740993})
		if err != nil {
			t.Fatal(err)
		}
		if res.PurgedUpTo != 9007199254740992 || res.Message != "purged 1 file" {
			t.Errorf("result %+v", res)
		}
		if got.FloorLSN != 9007199254740993 || got.Config["datadir"] != "/d" {
			t.Errorf("the plugin received %+v", got)
		}
		_, err = c.src.Purge(context.Background(), &shared.PurgeRequest{Config: cfg})
		if !errors.Is(err, shared.ErrInvalidConfig) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %v: want ErrInvalidConfig without the password", err)
		}
	})
}
