package testenv_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

func TestInfluxWriteV2ReadInfluxQL(t *testing.T) {
	stopped := expectStopped(t)
	in := testenv.StartInflux(t)
	stopped(in.URL)
	if in.Bucket != "nodewarden/autogen" {
		t.Errorf("Bucket = %q, want nodewarden/autogen", in.Bucket)
	}

	// The way the sink writes: the 2.x client against 1.8's /api/v2/write, bucket "db/rp".
	client := influxdb2.NewClient(in.URL, "")
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	point := influxdb2.NewPoint("node_cpu",
		map[string]string{"node": "ip-10-0-0-1.ec2.internal"},
		map[string]any{"usage": 0.25, "count": int64(1) << 60}, at)
	if err := client.WriteAPIBlocking("", in.Bucket).WritePoint(ctx, point); err != nil {
		t.Fatalf("write point: %v", err)
	}

	series := in.Query(t, `SELECT "usage", "count" FROM "node_cpu" WHERE "node" = 'ip-10-0-0-1.ec2.internal'`)
	if len(series) != 1 || len(series[0].Values) != 1 {
		t.Fatalf("query returned %+v, want one series with one row", series)
	}
	row := series[0].Values[0]
	if got := series[0].Columns; len(got) != 3 || got[0] != "time" || got[1] != "usage" || got[2] != "count" {
		t.Fatalf("columns = %v, want [time usage count]", got)
	}
	if row[0] != at.Format(time.RFC3339) {
		t.Errorf("time = %v, want %s", row[0], at.Format(time.RFC3339))
	}
	if row[1] != json.Number("0.25") {
		t.Errorf("usage = %#v, want 0.25", row[1])
	}
	// 2^60 survives only if numbers are not decoded as float64.
	if row[2] != json.Number("1152921504606846976") {
		t.Errorf("count = %#v, want 1152921504606846976", row[2])
	}
}

func TestInfluxStopStartKeepsData(t *testing.T) {
	in := testenv.StartInflux(t)
	client := influxdb2.NewClient(in.URL, "")
	defer client.Close()
	w := client.WriteAPIBlocking("", in.Bucket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	if err := w.WritePoint(ctx, influxdb2.NewPoint("m", map[string]string{"n": "a"}, map[string]any{"v": 1.0}, at)); err != nil {
		t.Fatal(err)
	}
	in.Stop()
	if err := w.WritePoint(ctx, influxdb2.NewPoint("m", map[string]string{"n": "b"}, map[string]any{"v": 1.0}, at)); err == nil {
		t.Fatal("write to a stopped InfluxDB succeeded")
	}
	in.Start(t)
	if err := w.WritePoint(ctx, influxdb2.NewPoint("m", map[string]string{"n": "c"}, map[string]any{"v": 1.0}, at)); err != nil {
		t.Fatal(err)
	}
	series := in.Query(t, `SELECT count("v") FROM "m"`)
	if len(series) != 1 || len(series[0].Values) != 1 || series[0].Values[0][1] != json.Number("2") {
		t.Fatalf("after a restart: %+v, want count 2", series)
	}
}
