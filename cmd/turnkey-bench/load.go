package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// flow is one allocation's (or baseline client's) traffic and its counters.
// Sender-side fields are touched only by the sending goroutine and
// receiver-side ones only by the receiving goroutine; both are read after
// the run has joined.
type flow struct {
	id uint32
	dc dataConn

	seq     uint32
	sentWin int64 // stamped inside the measurement window
	sentAll int64

	recvWin int64
	recvAll int64
	hist    histogram

	inflight atomic.Int64
	credit   chan struct{}
}

// loadPlan fixes the timeline: warm-up, measurement window, then a drain
// during which late echoes of window packets still count.
type loadPlan struct {
	pps      float64 // per flow; 0 = flat out, bounded by window
	window   int
	warmup   time.Duration
	duration time.Duration
	drain    time.Duration
}

type loadOutcome struct {
	flows      []*flow
	start      time.Time
	windowFrom time.Time
	windowTo   time.Time
	sendErrors int64
}

// runLoad drives every flow through the plan and returns when all stopped.
func runLoad(flows []*flow, plan loadPlan, onWindow func(start bool)) loadOutcome {
	start := time.Now()
	wFrom := plan.warmup.Nanoseconds()
	wTo := wFrom + plan.duration.Nanoseconds()
	out := loadOutcome{flows: flows, start: start,
		windowFrom: start.Add(plan.warmup), windowTo: start.Add(plan.warmup + plan.duration)}
	var sendErrs atomic.Int64

	var recvWG sync.WaitGroup
	for _, f := range flows {
		f.credit = make(chan struct{}, 1)
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			var got int64
			_ = f.dc.recvLoop(func(p []byte) {
				sendNs, _, _, ok := unstamp(p)
				if !ok {
					return
				}
				now := time.Since(start).Nanoseconds()
				f.recvAll++
				got++
				if sendNs >= wFrom && sendNs < wTo {
					f.recvWin++
					f.hist.record(time.Duration(now - sendNs))
				}
			}, func() {
				if plan.pps == 0 && got > 0 {
					f.inflight.Add(-got)
					select {
					case f.credit <- struct{}{}:
					default:
					}
				}
				got = 0
			})
		}()
	}

	fill := func(f *flow) func([]byte) {
		return func(p []byte) {
			now := time.Since(start).Nanoseconds()
			stamp(p, now, f.seq, f.id)
			f.seq++
			f.sentAll++
			if now >= wFrom && now < wTo {
				f.sentWin++
			}
		}
	}

	// Window edges: the caller samples CPU there.
	edges := make(chan struct{})
	go func() {
		defer close(edges)
		time.Sleep(time.Until(out.windowFrom))
		onWindow(true)
		time.Sleep(time.Until(out.windowTo))
		onWindow(false)
	}()

	var sendWG sync.WaitGroup
	if plan.pps > 0 {
		// Paced: a few pacer goroutines each serve a share of the flows on a
		// 1 ms tick, sending whatever is due, so thousands of slow flows cost
		// thousands of syscalls, not thousands of timers.
		pacers := min(len(flows), max(1, runtime.GOMAXPROCS(0)))
		for p := range pacers {
			sendWG.Add(1)
			go func() {
				defer sendWG.Done()
				fills := map[*flow]func([]byte){}
				for i := p; i < len(flows); i += pacers {
					fills[flows[i]] = fill(flows[i])
				}
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for range tick.C {
					el := time.Since(start)
					if el >= plan.warmup+plan.duration {
						return
					}
					want := int64(el.Seconds() * plan.pps)
					for i := p; i < len(flows); i += pacers {
						f := flows[i]
						due := want - f.sentAll
						if due <= 0 {
							continue
						}
						// A stalled tick sends its backlog in at most a few
						// batches; what cannot be sent shows as a lower
						// offered rate, never as a burst that fakes loss.
						if due > 4*dataBatch {
							f.sentAll += due - 4*dataBatch
							due = 4 * dataBatch
						}
						if err := f.dc.send(int(due), fills[f]); err != nil {
							sendErrs.Add(1)
						}
					}
				}
			}()
		}
	} else {
		// Flat out, closed loop: each flow keeps up to window packets in
		// flight and refills as echoes return. An open loop on two shared
		// cores would just measure how fast the sender starves the server.
		for _, f := range flows {
			sendWG.Add(1)
			go func() {
				defer sendWG.Done()
				fl := fill(f)
				timer := time.NewTimer(time.Hour)
				for time.Since(start) < plan.warmup+plan.duration {
					room := int64(plan.window) - f.inflight.Load()
					if room > 0 {
						f.inflight.Add(room)
						if err := f.dc.send(int(room), fl); err != nil {
							sendErrs.Add(1)
						}
						continue
					}
					timer.Reset(20 * time.Millisecond)
					select {
					case <-f.credit:
					case <-timer.C:
						// Nothing came back for 20 ms: what is in flight is
						// lost; release its credit.
						f.inflight.Store(0)
					}
				}
			}()
		}
	}
	sendWG.Wait()
	<-edges
	time.Sleep(plan.drain)
	for _, f := range flows {
		f.dc.stop()
	}
	recvWG.Wait()
	out.sendErrors = sendErrs.Load()
	return out
}
