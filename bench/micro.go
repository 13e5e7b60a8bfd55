package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// microPackages hold the Go micro-benchmarks: the page checksum, the page set and the .idx
// reader, the record codec and the stream digest.
var microPackages = []string{"./mysqlsrc/innodb", "./pagemap", "./shared"}

// microBenchmarks runs the packages' Go benchmarks (go test -bench) and keeps their results;
// the codec benchmark also leaves a CPU profile.
func (b *bench) microBenchmarks(ctx context.Context) error {
	if !b.cfg.micro {
		say("skipped (BENCH_MICRO=0)")
		return nil
	}
	var raw strings.Builder
	for _, pkg := range microPackages {
		args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}
		if pkg == "./shared" {
			args = append(args, "-cpuprofile", filepath.Join(b.cfg.out, "shared-bench.cpu.pprof"), "-o", filepath.Join(b.cfg.out, "shared.test"))
		}
		cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
		cmd.Dir = b.cfg.root
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		raw.Write(out)
		if err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(append(args, pkg), " "), err, out)
		}
		b.res.Micro = append(b.res.Micro, parseBench(pkg, string(out))...)
	}
	b.res.MicroRaw = raw.String()
	for _, m := range b.res.Micro {
		say("%-12s %-45s %12.0f ns/op %10s %s", m.Pkg, m.Name, m.NsOp, mbsText(m.MBs), m.Extra)
	}
	return nil
}

func mbsText(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f MB/s", v)
}

// parseBench reads the result lines of go test -bench output.
func parseBench(pkg, out string) []MicroResult {
	var res []MicroResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		m := MicroResult{Pkg: strings.TrimPrefix(pkg, "./"), Name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndexByte(m.Name, '-'); i > 0 {
			m.Name = m.Name[:i] // the GOMAXPROCS suffix
		}
		var extra []string
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				m.NsOp = v
			case "MB/s":
				m.MBs = v
			default:
				extra = append(extra, f[i]+" "+f[i+1])
			}
		}
		m.Extra = strings.Join(extra, ", ")
		res = append(res, m)
	}
	return res
}
