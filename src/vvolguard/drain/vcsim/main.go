// Command vvolguard-vcsim is the govmomi vCenter simulator the drain's integration tests run
// against, with the hooks govmomi 0.24.2 lacks (docs/drain-background.md §9.4–9.5):
//
//   - RelocateVM_Task takes time and runs in the background, so pyVmomi sees it "running";
//   - a relocation really moves the VM between the hosts' (and pools') VM lists and posts
//     VmMigratedEvent / VmFailedMigrateEvent (with the two malformed event templates repaired);
//   - a VASA pressure model driven by the drain's own submissions: relocations in flight are
//     counted across all hosts (one provider behind the shared datastore); while more are in
//     flight than the provider ceiling, a new one fails, after a while, with
//     vmodl.fault.SystemError "A system error occurred." (the KB 318662 symptom). A second
//     relocation of a VM already moving fails with TaskInProgress, as vCenter does;
//   - TLS with a fresh self-signed P-256 certificate for 127.0.0.1 (its path is printed), since
//     OpenSSL rejects the RSA-1024 one built into Go's httptest even when told to trust it;
//   - CheckRelocate_Task (VirtualMachineProvisioningChecker) answers with real checks;
//   - with -vvold-dir, each destination host gets a vvold.log with the swap-vVol creations the
//     relocations cause (Issuing ... #outstanding n/max, GetFreeConn waits, FINAL SUCCESS/FAILURE),
//     so the drain's live log tail sees the control plane fill up before tasks fail;
//   - counters (relocations per VM, in-flight peak, the VMs left on a host when it entered
//     maintenance mode) are published as OptionManager settings under "vvolguard.vcsim.stats.",
//     so a test reads them with QueryOptions, an ordinary vSphere call.
//
// Lab mode (-lab FILE, lab.go) serves a `vvolguard lab` scenario on top of all this: its inventory
// and task/event history, SMS, vVol storage and PEs, DiagnosticManager, login checks and fault
// knobs; -port, -tls-cert/-tls-key and the VVOLGUARD_VCSIM_* environment set where and how it
// listens. -provider-busy and -provider-down add other work holding the provider and an
// unreachable provider to the pressure model (docs/lab.md).
//
// Model parameters come from flags and can be changed at run time, per test, with
// content.setting.UpdateOptions on the keys "vvolguard.vcsim.<name>" (see optionKeys).
// Nothing is persisted: the process is the whole state, so a drain process can be killed and
// re-run against the same simulator.
//
// Build (offline, Debian packages golang-go and golang-github-vmware-govmomi-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off go build -o vvolguard-vcsim main.go
//
// It prints one JSON line {"url": ..., "cert": ..., "hosts": [...]} on stdout once serving, and
// runs until SIGTERM or SIGINT (or, with -exit-on-stdin-eof, until its stdin closes).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// systemErrorMessage is what vCenter shows for the VASA saturation failures we model.
const systemErrorMessage = "A system error occurred."

// optionPrefix scopes every setting this program reads or writes. It must not start with
// "ENOENT.", which the simulator's OptionManager rejects on purpose.
const optionPrefix = "vvolguard.vcsim."

// Option keys the hooks read at each submission (value: a number, as string or int).
var optionKeys = struct {
	relocateSeconds, failSeconds, ceiling, failNext, busy, down string
}{
	busy:            optionPrefix + "providerBusy",    // VASA operations other work keeps in flight
	down:            optionPrefix + "providerDown",    // 1: the provider is unreachable (setContext fails)
	relocateSeconds: optionPrefix + "relocateSeconds", // duration of a successful relocation
	failSeconds:     optionPrefix + "failSeconds",     // time until a saturated relocation fails
	ceiling:         optionPrefix + "providerCeiling", // relocations in flight the VP sustains; 0 = no limit
	failNext:        optionPrefix + "failNext",        // fail the next N relocations (one-shot each)
}

// pressure is the VASA provider model plus the counters the tests read. One mutex guards it;
// the simulator's own objects are guarded by simulator.Map locks, never while holding this one.
type pressure struct {
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	submitted   int
	succeeded   int
	failed      int
	busyVM      map[string]bool // VM moid -> a relocation is in flight
	relocated   map[string]int  // VM moid -> successful relocations
	attempts    map[string]int  // VM moid -> submissions
	maintenance map[string]int  // host name -> VMs still registered when maintenance mode began
}

var model = &pressure{
	busyVM:      map[string]bool{},
	relocated:   map[string]int{},
	attempts:    map[string]int{},
	maintenance: map[string]int{},
}

// defaults set from flags; the OptionManager values of the same keys override them.
var defaults = map[string]float64{}

func optionManager() *simulator.OptionManager { return simulator.Map.OptionManager() }

// readOption returns the number stored under key, or the flag default.
func readOption(key string) float64 {
	val := defaults[key]
	om := optionManager()
	simulator.Map.WithLock(om, func() {
		for _, opt := range om.Setting {
			ov := opt.GetOptionValue()
			if ov.Key != key {
				continue
			}
			if f, ok := toFloat(ov.Value); ok {
				val = f
			}
		}
	})
	return val
}

func toFloat(v types.AnyType) (float64, bool) {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// takeFailNext consumes one armed one-shot failure, if any.
func takeFailNext() bool {
	armed := false
	om := optionManager()
	simulator.Map.WithLock(om, func() {
		for _, opt := range om.Setting {
			ov := opt.GetOptionValue()
			if ov.Key != optionKeys.failNext {
				continue
			}
			if n, ok := toFloat(ov.Value); ok && n >= 1 {
				armed = true
				ov.Value = strconv.Itoa(int(n) - 1)
			}
		}
	})
	return armed
}

// publish writes the counters into the OptionManager ("vvolguard.vcsim.stats.*").
func publish() {
	model.mu.Lock()
	stats := map[string]string{
		"inFlight":    strconv.Itoa(model.inFlight),
		"maxInFlight": strconv.Itoa(model.maxInFlight),
		"submitted":   strconv.Itoa(model.submitted),
		"succeeded":   strconv.Itoa(model.succeeded),
		"failed":      strconv.Itoa(model.failed),
	}
	for vm, n := range model.relocated {
		stats["relocated."+vm] = strconv.Itoa(n)
	}
	for vm, n := range model.attempts {
		stats["attempts."+vm] = strconv.Itoa(n)
	}
	for host, n := range model.maintenance {
		stats["maintenanceVms."+host] = strconv.Itoa(n)
	}
	model.mu.Unlock()

	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	om := optionManager()
	simulator.Map.WithLock(om, func() {
		for _, k := range keys {
			key := optionPrefix + "stats." + k
			found := false
			for _, opt := range om.Setting {
				if ov := opt.GetOptionValue(); ov.Key == key {
					ov.Value = stats[k]
					found = true
				}
			}
			if !found {
				om.Setting = append(om.Setting, &types.OptionValue{Key: key, Value: stats[k]})
			}
		}
	})
}

// vvoldLog writes, when -vvold-dir is set, the vvold.log lines a relocation causes on its
// destination host (which creates the VM's swap vVol), in the ESXi 7.0 shape of
// docs/evidence-formats.md §1.2/§1.7: "Issuing 'createVirtualVolume' ... (#outstanding n/max)", a
// GetFreeConn wait when the provider is saturated, then FINAL SUCCESS with timeElapsed or FINAL
// FAILURE (RESOURCE_BUSY, seen verbatim in vvold; not TIMEOUT, whose timeElapsed a reader takes for
// vvold's deadline, and our scaled-down failure delay is no deadline). The drain can then tail <dir>/<host>.vvold.log with --vvold-log and react
// to the control plane before migrations fail, as it would on a real host.
type vvoldLog struct {
	mu    sync.Mutex
	dir   string
	seq   int
	files map[string]*os.File
}

type vasaOp struct {
	seq   int // -1: nothing was logged
	host  string
	start time.Time
	// vasaOK: the VASA operation succeeded even though the migration fails (a PE the
	// destination cannot reach fails the data path, not the control plane).
	vasaOK bool
	// failure: the fault vvold reports when the operation fails (default: RESOURCE_BUSY).
	failure string
}

// The provider vvold names in its lines; a lab spec (-lab) replaces them with its scenario's.
var (
	vasaProvider  = "vcsim-vp"
	vasaURL       = "https://127.0.0.1:8084/vasa"
	vasaContainer = "b487b73a-6128-3ad2-873b-8ddb1ba45d4f"
	// vvoldShape is the ESXi log shape of the lines written: "esxi7" (default) or "esxi8".
	vvoldShape = "esxi7"
	// vvoldPids maps a host name to the pid its vvold lines carry (default: this process's).
	vvoldPids = map[string]int{}
)

// vvoldPath is where a host's vvold.log is appended to: <dir>/<host>.vvold.log, or in lab mode
// the host's own tree, <dir>/<host>/var/run/log/vvold.log, which the lab's SSH endpoint serves.
var vvoldPath = func(dir, short string) string { return filepath.Join(dir, short+".vvold.log") }

func vvoldPid(host string) int {
	if pid, ok := vvoldPids[host]; ok {
		return pid
	}
	return os.Getpid()
}

const (
	// vvoldMaxConnections stands for the per-VP connection count when no ceiling is modelled.
	vvoldMaxConnections = 64
)

var vvold = &vvoldLog{files: map[string]*os.File{}}

func (l *vvoldLog) write(host, level, message string) {
	short := strings.SplitN(host, ".", 2)[0]
	f := l.files[short]
	if f == nil {
		var err error
		f, err = os.OpenFile(vvoldPath(l.dir, short), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Printf("vvold log for %s: %v", short, err)
			return
		}
		l.files[short] = f
	}
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	pid := vvoldPid(host)
	// One write per record, so a tailing reader never sees a header without its continuation.
	if vvoldShape == "esxi8" {
		// ESXi 8 (docs/evidence-formats.md §1.3): one line, syslog severity, "VVold[pid]:".
		severity := map[string]string{"error": "Er(163)", "warning": "Wa(164)"}[level]
		if severity == "" {
			severity = "In(166)"
		}
		fmt.Fprintf(f, "%s %s VVold[%d]: [Originator@6876 sub=Default] %s\n", ts, severity, pid, message)
		return
	}
	fmt.Fprintf(f, "%s %s vvold[%d] [Originator@6876 sub=Default]\n--> %s\n", ts, level, pid, message)
}

func (l *vvoldLog) issue(host string, outstanding, ceiling int, saturated bool) vasaOp {
	if l.dir == "" {
		return vasaOp{seq: -1}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	op := vasaOp{seq: l.seq, host: host, start: time.Now()}
	maxConn := ceiling
	if maxConn <= 0 {
		maxConn = vvoldMaxConnections
	}
	if saturated {
		l.write(host, "warning", fmt.Sprintf("VasaSession::GetFreeConn: No free connections to VP %s (url: %s) "+
			"[#outstanding %d/%d] - waiting", vasaProvider, vasaURL, maxConn, maxConn))
		return op
	}
	l.write(host, "info", fmt.Sprintf("VasaOp::CreateVirtualVolumeInt [#%d]: ===> Issuing 'createVirtualVolume' to VP %s "+
		"(#outstanding %d/%d) [session state: Connected]", op.seq, vasaProvider, outstanding, maxConn))
	return op
}

// unreachable logs, instead of an issue, the setContext failure vvold writes when the provider
// cannot be reached (KB 412434's TRANSPORT_FAULT), and returns the op its failure will end.
func (l *vvoldLog) unreachable(host string) vasaOp {
	if l.dir == "" {
		return vasaOp{seq: -1}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.write(host, "error", fmt.Sprintf("VasaSession::DoSetContext: setContext for VP %s (url: %s) failed "+
		"[connectionState: TransportError]: TRANSPORT_FAULT (%s)", vasaProvider, vasaURL, sslConnectDetail))
	return vasaOp{seq: l.seq, host: host, start: time.Now(), failure: "TRANSPORT_FAULT / " + sslConnectDetail}
}

// sslConnectDetail is the detail of TRANSPORT_FAULT in KB 412434 (as sim/evidence/vvold.py).
const sslConnectDetail = "Timeout / SSL_connect() failed in tcp_connect()"

func (l *vvoldLog) finish(op vasaOp, ok bool, outstanding int) {
	if op.seq < 0 || l.dir == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	elapsed := time.Since(op.start).Milliseconds()
	if op.failure != "" && !ok {
		l.write(op.host, "error", fmt.Sprintf("VasaOp::ThrowFromSessionError [#%d]: ===> FINAL FAILURE createVirtualVolume, "+
			"error (%s) VP (%s) Container (%s) timeElapsed=%d msecs (#outstanding %d)",
			op.seq, op.failure, vasaProvider, vasaContainer, elapsed, outstanding))
		return
	}
	if ok || op.vasaOK {
		l.write(op.host, "info", fmt.Sprintf("VasaOp::CreateVirtualVolumeInt [#%d]: ===> FINAL SUCCESS createVirtualVolume "+
			"VP (%s) Container (%s) timeElapsed=%d msecs (#outstanding %d)", op.seq, vasaProvider, vasaContainer, elapsed, outstanding))
		return
	}
	l.write(op.host, "error", fmt.Sprintf("VasaOp::ThrowFromSessionError [#%d]: ===> FINAL FAILURE createVirtualVolume, "+
		"error (RESOURCE_BUSY / No free connections to VP) VP (%s) Container (%s) timeElapsed=%d msecs (#outstanding %d)",
		op.seq, vasaProvider, vasaContainer, elapsed, outstanding))
}

// drainVM wraps the simulator's VirtualMachine (same moref in simulator.Map) to replace
// RelocateVM_Task; every other method is the simulator's.
type drainVM struct {
	simulator.VirtualMachine
}

func hostOf(ref types.ManagedObjectReference) *simulator.HostSystem {
	h, _ := simulator.Map.Get(ref).(*simulator.HostSystem)
	return h
}

func datacenterArg() *types.DatacenterEventArgument {
	dc, ok := simulator.Map.Any("Datacenter").(*simulator.Datacenter)
	if !ok {
		return nil
	}
	return &types.DatacenterEventArgument{Datacenter: dc.Self, EntityEventArgument: types.EntityEventArgument{Name: dc.Name}}
}

func hostArg(h *simulator.HostSystem) *types.HostEventArgument {
	return &types.HostEventArgument{Host: h.Self, EntityEventArgument: types.EntityEventArgument{Name: h.Name}}
}

func datastoreArg(refs []types.ManagedObjectReference) *types.DatastoreEventArgument {
	if len(refs) == 0 {
		return nil
	}
	ds, ok := simulator.Map.Get(refs[0]).(*simulator.Datastore)
	if !ok {
		return nil
	}
	return &types.DatastoreEventArgument{Datastore: ds.Self, EntityEventArgument: types.EntityEventArgument{Name: ds.Name}}
}

// relocateProblems lists what forbids moving vm to dest: used by both CheckRelocate_Task and
// RelocateVM_Task, so the pre-flight check and the move agree.
func relocateProblems(vm *simulator.VirtualMachine, spec *types.VirtualMachineRelocateSpec) []types.BaseMethodFault {
	var faults []types.BaseMethodFault
	if spec.Host == nil {
		return faults
	}
	dest := hostOf(*spec.Host)
	if dest == nil {
		return append(faults, &types.ManagedObjectNotFound{Obj: *spec.Host})
	}
	var inMaintenance bool
	var connection types.HostSystemConnectionState
	var mounted []types.ManagedObjectReference
	simulator.Map.WithLock(dest, func() {
		inMaintenance = dest.Runtime.InMaintenanceMode
		connection = dest.Runtime.ConnectionState
		mounted = append(mounted, dest.Datastore...)
	})
	if inMaintenance {
		faults = append(faults, &types.InvalidState{})
	}
	if connection != "" && connection != types.HostSystemConnectionStateConnected {
		faults = append(faults, &types.HostNotConnected{})
	}
	for _, ds := range vm.Datastore {
		if spec.Datastore != nil {
			break // storage moves too; the destination datastore is the one to check
		}
		if simulator.FindReference(mounted, ds) == nil {
			name := ds.Value
			if d, ok := simulator.Map.Get(ds).(*simulator.Datastore); ok {
				name = d.Name
			}
			faults = append(faults, &types.DatastoreNotWritableOnHost{
				InvalidDatastore: types.InvalidDatastore{Datastore: &ds, Name: name},
				Host:             dest.Self,
			})
		}
	}
	return faults
}

func localized(f types.BaseMethodFault) types.LocalizedMethodFault {
	msg := fmt.Sprintf("%T", f)
	switch f.(type) {
	case *types.SystemError:
		msg = systemErrorMessage
	case *types.InvalidState:
		msg = "The operation is not allowed in the current state of the host."
	case *types.DatastoreNotWritableOnHost:
		msg = "The datastore is not accessible from the destination host."
	case *types.TaskInProgress:
		msg = "Another task is already in progress."
	}
	return types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg}
}

// setTask applies property changes to a task under its lock, as Task.Run does.
func setTask(t *simulator.Task, changes []types.PropertyChange) {
	simulator.Map.WithLock(t, func() { simulator.Map.Update(t, changes) })
}

// RelocateVMTask replaces the simulator's synchronous, list-forgetting relocation.
func (vm *drainVM) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	// descriptionId "VirtualMachine.relocate" and name "RelocateVM_Task", as vCenter reports them.
	task := simulator.CreateTask(vm, "relocate", nil)
	moid := vm.Self.Value
	userName := "vcsim"
	if ctx.Session != nil {
		userName = ctx.Session.UserName
	}

	// Decide at submission (the VP sees the request now), with the VM lock held by the caller.
	var fault types.BaseMethodFault
	if problems := relocateProblems(&vm.VirtualMachine, &req.Spec); len(problems) > 0 {
		fault = problems[0]
	}
	ceiling := int(readOption(optionKeys.ceiling))
	busy := int(readOption(optionKeys.busy))
	down := readOption(optionKeys.down) >= 1
	var destName string
	if req.Spec.Host != nil {
		if dest := hostOf(*req.Spec.Host); dest != nil {
			destName = dest.Name
		}
	}
	peBlocked := peUnreachable[destName]
	model.mu.Lock()
	model.submitted++
	model.attempts[moid]++
	duplicate := model.busyVM[moid]
	if !duplicate {
		model.busyVM[moid] = true
		model.inFlight++
		if model.inFlight > model.maxInFlight {
			model.maxInFlight = model.inFlight
		}
	}
	saturated := ceiling > 0 && model.inFlight+busy > ceiling
	outstanding := model.inFlight - 1 + busy // the others, as vvold counts them when issuing
	model.mu.Unlock()
	if duplicate && fault == nil {
		fault = &types.TaskInProgress{Task: task.Self}
	}
	if fault == nil && (saturated || down || peBlocked || takeFailNext()) {
		fault = &types.SystemError{Reason: systemErrorMessage}
	}

	delay := readOption(optionKeys.relocateSeconds)
	if _, ok := fault.(*types.SystemError); ok {
		delay = readOption(optionKeys.failSeconds)
	}
	if fault != nil && !isSystemError(fault) {
		delay = 0
	}

	setTask(task, []types.PropertyChange{
		{Name: "info.startTime", Val: time.Now()},
		{Name: "info.state", Val: types.TaskInfoStateRunning},
		{Name: "info.progress", Val: int32(0)},
		{Name: "info.name", Val: "RelocateVM_Task"},
	})
	publish()

	op := vasaOp{seq: -1}
	if req.Spec.Host != nil && !duplicate && (fault == nil || isSystemError(fault)) {
		if dest := hostOf(*req.Spec.Host); dest != nil {
			switch {
			case down:
				op = vvold.unreachable(dest.Name)
			default:
				op = vvold.issue(dest.Name, outstanding, ceiling, saturated)
				op.vasaOK = peBlocked && !saturated
			}
		}
	}
	go vm.finishRelocate(task, req.Spec, fault, delay, duplicate, userName, op)

	return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task.Self}}
}

func isSystemError(f types.BaseMethodFault) bool {
	_, ok := f.(*types.SystemError)
	return ok
}

// finishRelocate runs after the modelled duration: it moves the VM (or not) and ends the task.
func (vm *drainVM) finishRelocate(task *simulator.Task, spec types.VirtualMachineRelocateSpec,
	fault types.BaseMethodFault, delay float64, duplicate bool, userName string, op vasaOp) {
	if delay > 0 {
		time.Sleep(time.Duration(delay * float64(time.Second)))
	}
	moid := vm.Self.Value

	var source *simulator.HostSystem
	var sourceDatastores []types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		if vm.Runtime.Host != nil {
			source = hostOf(*vm.Runtime.Host)
		}
		sourceDatastores = append(sourceDatastores, vm.Datastore...)
	})
	var dest *simulator.HostSystem
	if spec.Host != nil {
		dest = hostOf(*spec.Host)
	}

	if fault == nil {
		vm.move(source, dest, spec)
	}

	model.mu.Lock()
	if !duplicate {
		delete(model.busyVM, moid)
		model.inFlight--
	}
	left := model.inFlight
	if fault == nil {
		model.succeeded++
		model.relocated[moid]++
	} else {
		model.failed++
	}
	model.mu.Unlock()

	// Everything a client may check once it sees the task end (counters, vvold.log, events) is
	// written before the task ends, so a test never reads a stale counter.
	vvold.finish(op, fault == nil, left)
	publish()
	postMigrationEvent(vm, source, dest, sourceDatastores, fault, userName)

	state := types.TaskInfoStateSuccess
	changes := []types.PropertyChange{{Name: "info.completeTime", Val: time.Now()}}
	if fault != nil {
		state = types.TaskInfoStateError
		changes = append(changes, types.PropertyChange{Name: "info.error", Val: localized(fault)})
	} else {
		changes = append(changes, types.PropertyChange{Name: "info.progress", Val: int32(100)})
	}
	changes = append(changes, types.PropertyChange{Name: "info.state", Val: state})
	setTask(task, changes)
}

// move updates the VM, the source/destination hosts and pools, each under its own lock.
func (vm *drainVM) move(source, dest *simulator.HostSystem, spec types.VirtualMachineRelocateSpec) {
	var changes []types.PropertyChange
	var oldPool *types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		oldPool = vm.ResourcePool
	})
	if dest != nil && (source == nil || source.Self != dest.Self) {
		if source != nil {
			simulator.Map.WithLock(source, func() {
				simulator.RemoveReference(&source.Vm, vm.Self)
				simulator.Map.Update(source, []types.PropertyChange{{Name: "vm", Val: source.Vm}})
			})
		}
		simulator.Map.WithLock(dest, func() {
			if simulator.FindReference(dest.Vm, vm.Self) == nil {
				dest.Vm = append(dest.Vm, vm.Self)
			}
			simulator.Map.Update(dest, []types.PropertyChange{{Name: "vm", Val: dest.Vm}})
		})
		ref := dest.Self
		changes = append(changes,
			types.PropertyChange{Name: "runtime.host", Val: &ref},
			types.PropertyChange{Name: "summary.runtime.host", Val: &ref},
		)
	}
	if spec.Pool != nil && (oldPool == nil || *oldPool != *spec.Pool) {
		if oldPool != nil {
			if p, ok := simulator.Map.Get(*oldPool).(*simulator.ResourcePool); ok {
				simulator.Map.WithLock(p, func() { simulator.RemoveReference(&p.Vm, vm.Self) })
			}
		}
		if p, ok := simulator.Map.Get(*spec.Pool).(*simulator.ResourcePool); ok {
			simulator.Map.WithLock(p, func() {
				if simulator.FindReference(p.Vm, vm.Self) == nil {
					p.Vm = append(p.Vm, vm.Self)
				}
			})
		}
		pool := *spec.Pool
		changes = append(changes, types.PropertyChange{Name: "resourcePool", Val: &pool})
	}
	if len(changes) > 0 {
		simulator.Map.WithLock(vm, func() { simulator.Map.Update(&vm.VirtualMachine, changes) })
	}
}

func postMigrationEvent(vm *drainVM, source, dest *simulator.HostSystem, datastores []types.ManagedObjectReference,
	fault types.BaseMethodFault, userName string) {
	if source == nil || dest == nil {
		return
	}
	var vmName string
	simulator.Map.WithLock(vm, func() { vmName = vm.Name })
	base := types.VmEvent{Event: types.Event{
		Datacenter: datacenterArg(),
		Vm:         &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vmName}, Vm: vm.Self},
	}}
	var event types.BaseEvent
	if fault == nil {
		base.Host = hostArg(dest)
		base.Ds = datastoreArg(datastores)
		event = &types.VmMigratedEvent{
			VmEvent:          base,
			SourceHost:       *hostArg(source),
			SourceDatacenter: datacenterArg(),
			SourceDatastore:  datastoreArg(datastores),
		}
	} else {
		base.Host = hostArg(source)
		base.Ds = datastoreArg(datastores)
		event = &types.VmFailedMigrateEvent{
			VmEvent:        base,
			DestHost:       *hostArg(dest),
			Reason:         localized(fault),
			DestDatacenter: datacenterArg(),
			DestDatastore:  datastoreArg(datastores),
		}
	}
	em := simulator.Map.EventManager()
	session := &simulator.Session{UserSession: types.UserSession{UserName: userName}, Registry: simulator.NewRegistry()}
	ctx := &simulator.Context{Context: context.Background(), Session: session, Map: simulator.Map}
	simulator.Map.WithLock(em, func() {
		em.PostEvent(ctx, &types.PostEvent{EventToPost: event})
	})
}

// provChecker is the VirtualMachineProvisioningChecker the VPX service content points at
// ("ProvChecker") but 0.24.2 does not implement.
type provChecker struct {
	mo.VirtualMachineProvisioningChecker
}

func (c *provChecker) CheckRelocateTask(ctx *simulator.Context, req *types.CheckRelocate_Task) soap.HasFault {
	// The task's entity must be a ManagedEntity for pyVmomi: the VM, as vCenter reports it.
	task := simulator.CreateTask(req.Vm, "checkRelocate", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := simulator.Map.Get(req.Vm).(*drainVM)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: req.Vm}
		}
		result := types.CheckResult{Vm: &req.Vm, Host: req.Spec.Host}
		var problems []types.BaseMethodFault
		simulator.Map.WithLock(vm, func() { problems = relocateProblems(&vm.VirtualMachine, &req.Spec) })
		for _, p := range problems {
			result.Error = append(result.Error, localized(p))
		}
		return types.ArrayOfCheckResult{CheckResult: []types.CheckResult{result}}, nil
	})
	return &methods.CheckRelocate_TaskBody{Res: &types.CheckRelocate_TaskResponse{Returnval: task.Run()}}
}

// maintenanceWatch records, when an EnterMaintenanceMode_Task is created, how many VMs the
// host still has. The simulator only flips a flag, so this is how a test proves the drain
// emptied the host *before* asking for maintenance mode.
type maintenanceWatch struct{}

func (w *maintenanceWatch) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VvolguardMaintenanceWatch", Value: "maintenance-watch"}
}

func (w *maintenanceWatch) PutObject(obj mo.Reference) {
	t, ok := obj.(*simulator.Task)
	if !ok || t.Info.DescriptionId != "HostSystem.enterMaintenanceMode" || t.Info.Entity == nil {
		return
	}
	// EnterMaintenanceMode_Task runs with the host locked by this very goroutine: read directly.
	h := hostOf(*t.Info.Entity)
	if h == nil {
		return
	}
	model.mu.Lock()
	model.maintenance[h.Name] = len(h.Vm)
	model.mu.Unlock()
	publish() // synchronously, so the count is readable once the task ends (lock order host -> options)
}

func (w *maintenanceWatch) UpdateObject(mo.Reference, []types.PropertyChange) {}
func (w *maintenanceWatch) RemoveObject(types.ManagedObjectReference)         {}

// repairEventTemplates fixes the malformed VmMigratedEvent / VmBeingMigratedEvent formats of
// 0.24.2 ("{{.SourceHost.Name}," lacks a brace; template.Must would panic) and adds the
// VmFailedMigrateEvent format vCenter uses.
func repairEventTemplates() {
	fixed := map[string]string{
		"VmMigratedEvent": "Migration of virtual machine {{.Vm.Name}} from {{.SourceHost.Name}}, " +
			"{{with .SourceDatastore}}{{.Name}}{{end}} to {{.Host.Name}}, {{with .Ds}}{{.Name}}{{end}} completed",
		"VmBeingMigratedEvent": "Relocating {{.Vm.Name}} from {{.Host.Name}}, {{with .Ds}}{{.Name}}{{end}} in " +
			"{{with .Datacenter}}{{.Name}}{{end}} to {{.DestHost.Name}}, {{with .DestDatastore}}{{.Name}}{{end}}",
		"VmFailedMigrateEvent": "Cannot migrate {{.Vm.Name}} from {{.Host.Name}}, {{with .Ds}}{{.Name}}{{end}} to " +
			"{{.DestHost.Name}}, {{with .DestDatastore}}{{.Name}}{{end}} in {{with .Datacenter}}{{.Name}}{{end}}",
	}
	for i := range esx.EventInfo {
		if f, ok := fixed[esx.EventInfo[i].Key]; ok {
			esx.EventInfo[i].FullFormat = f
			delete(fixed, esx.EventInfo[i].Key)
		}
	}
	for key, f := range fixed {
		esx.EventInfo = append(esx.EventInfo, types.EventDescriptionEventDetail{
			Key: key, Description: key, Category: "error", FullFormat: f,
		})
	}
}

type config struct {
	hosts, vms, otherVMs, poweredOff int
	isolated                         bool
	domain                           string
	spec                             *labSpec // -lab: the inventory and history of a lab scenario
}

func (cfg config) hostName(i int) string {
	if cfg.spec != nil && i < len(cfg.spec.Hosts) {
		return cfg.spec.Hosts[i].Name
	}
	return fmt.Sprintf("esx-%02d.%s", i+1, cfg.domain)
}

// populate renames the cluster hosts, adds an isolated host that lacks the shared datastore,
// and creates the VMs through the SOAP API, so they are built exactly like real ones.
func populate(ctx context.Context, u *url.URL, cfg config) error {
	hosts := simulator.Map.All("HostSystem")
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Entity().Name < hosts[j].Entity().Name })
	for i, e := range hosts {
		h := e.(*simulator.HostSystem)
		name := cfg.hostName(i)
		simulator.Map.WithLock(h, func() {
			simulator.Map.Update(h, []types.PropertyChange{
				{Name: "name", Val: name},
				{Name: "summary.config.name", Val: name},
			})
		})
	}

	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return err
	}
	defer func() { _ = c.Logout(ctx) }()

	dc := simulator.Map.Any("Datacenter").(*simulator.Datacenter)
	cluster := simulator.Map.Any("ClusterComputeResource").(*simulator.ClusterComputeResource)
	vmFolder := object.NewFolder(c.Client, dc.VmFolder)
	pool := object.NewResourcePool(c.Client, *cluster.ResourcePool)

	if cfg.isolated {
		hostFolder := object.NewFolder(c.Client, dc.HostFolder)
		spec := types.HostConnectSpec{HostName: "esx-isolated." + cfg.domain, UserName: "root", Password: "vcsim"}
		task, err := hostFolder.AddStandaloneHost(ctx, spec, true, nil, nil)
		if err != nil {
			return err
		}
		if _, err := task.WaitForResult(ctx, nil); err != nil {
			return err
		}
	}

	create := func(name string, host types.ManagedObjectReference, powerOn bool) error {
		spec := types.VirtualMachineConfigSpec{
			Name:    name,
			GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest),
			Files:   &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		}
		task, err := vmFolder.CreateVM(ctx, spec, pool, object.NewHostSystem(c.Client, host))
		if err != nil {
			return err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		if !powerOn {
			return nil
		}
		vm := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
		ptask, err := vm.PowerOn(ctx)
		if err != nil {
			return err
		}
		_, err = ptask.WaitForResult(ctx, nil)
		return err
	}

	if cfg.spec != nil {
		index := map[string]int{}
		for i := range hosts {
			index[cfg.hostName(i)] = i
		}
		for _, v := range cfg.spec.VMs {
			i, ok := index[v.Host]
			if !ok {
				return fmt.Errorf("lab spec: VM %s is on unknown host %s", v.Name, v.Host)
			}
			if err := create(v.Name, hosts[i].Reference(), v.PoweredOn); err != nil {
				return err
			}
		}
	}
	for i := 0; cfg.spec == nil && i < cfg.vms; i++ {
		if err := create(fmt.Sprintf("app-%02d", i+1), hosts[0].Reference(), i >= cfg.poweredOff); err != nil {
			return err
		}
	}
	for h := 1; cfg.spec == nil && h < len(hosts); h++ {
		for i := 0; i < cfg.otherVMs; i++ {
			name := fmt.Sprintf("%s-vm-%02d", strings.SplitN(cfg.hostName(h), ".", 2)[0], i+1)
			if err := create(name, hosts[h].Reference(), true); err != nil {
				return err
			}
		}
	}

	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok {
			// By value: the property collector digs the mo type out of the first field, which
			// must be a struct, not a pointer. The simulator keeps no other pointer to the VM.
			simulator.Map.Put(&drainVM{*vm})
		}
	}
	return nil
}

// selfSignedCertificate makes a fresh P-256 certificate for 127.0.0.1 and localhost. The one
// built into Go's httptest is RSA-1024, which OpenSSL rejects as "key too weak" even when the
// client is told to trust it, so the "--ca-file" path could not be tested with it.
func selfSignedCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vvolguard vcsim", Organization: []string{"vvolguard tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	cfg := config{}
	flag.IntVar(&cfg.hosts, "hosts", 4, "hosts in the cluster (esx-01 is the one to drain)")
	flag.IntVar(&cfg.vms, "vms", 12, "VMs on esx-01")
	flag.IntVar(&cfg.otherVMs, "other-vms", 1, "VMs on each other cluster host")
	flag.IntVar(&cfg.poweredOff, "powered-off", 2, "how many of esx-01's VMs stay powered off")
	flag.BoolVar(&cfg.isolated, "isolated-host", true, "add a standalone host without the shared datastore")
	flag.StringVar(&cfg.domain, "domain", "vcsim.test", "DNS domain of the host names")
	relocate := flag.Float64("relocate-seconds", 1.0, "duration of a successful relocation")
	failAfter := flag.Float64("fail-seconds", 0.5, "time until a saturated relocation fails")
	ceiling := flag.Int("ceiling", 0, "relocations in flight the VASA provider sustains (0: no limit)")
	orphanExit := flag.Bool("exit-on-stdin-eof", false, "exit when stdin closes (the parent died)")
	busy := flag.Int("provider-busy", 0, "VASA operations other work keeps in flight (count against -ceiling)")
	down := flag.Bool("provider-down", false, "the provider is unreachable: relocations fail after setContext fails")
	flag.StringVar(&vvold.dir, "vvold-dir", "", "write <host>.vvold.log files for the relocations here")
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain to serve (default: a fresh self-signed one)")
	tlsKey := flag.String("tls-key", "", "PEM private key of -tls-cert")
	labFile := flag.String("lab", "", "JSON lab spec: inventory, task/event history, SMS providers, vVol storage")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("vvolguard-vcsim: ")
	if *labFile != "" {
		spec, err := loadLabSpec(*labFile)
		if err != nil {
			log.Fatal(err)
		}
		cfg.spec = spec
		cfg.hosts = len(spec.Hosts)
		cfg.isolated = false
		spec.applyVvold()
	}

	defaults[optionKeys.relocateSeconds] = *relocate
	defaults[optionKeys.failSeconds] = *failAfter
	defaults[optionKeys.ceiling] = float64(*ceiling)
	defaults[optionKeys.failNext] = 0
	defaults[optionKeys.busy] = float64(*busy)
	if *down {
		defaults[optionKeys.down] = 1
	}

	repairEventTemplates()

	m := simulator.VPX()
	m.Datacenter = 1
	m.Cluster = 1
	m.ClusterHost = cfg.hosts
	m.Host = 0
	m.Machine = 0
	m.Datastore = 1
	m.Portgroup = 0
	if err := m.Create(); err != nil {
		log.Fatal(err)
	}
	defer m.Remove()

	m.Service.Listen = &url.URL{Host: fmt.Sprintf("127.0.0.1:%d", *port)}
	// The login the simulator accepts comes from the environment, never from a flag: the
	// command line of a process is world-readable. Unset: any non-empty user and password.
	if user := os.Getenv("VVOLGUARD_VCSIM_USER"); user != "" && cfg.spec == nil {
		m.Service.Listen.User = url.UserPassword(user, os.Getenv("VVOLGUARD_VCSIM_PASSWORD"))
	}
	var cert tls.Certificate
	var err error
	if *tlsCert != "" {
		cert, err = tls.LoadX509KeyPair(*tlsCert, *tlsKey)
	} else {
		cert, err = selfSignedCertificate()
	}
	if err != nil {
		log.Fatal(err)
	}
	m.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := m.Service.NewServer()
	defer server.Close()
	if cfg.spec != nil {
		// Before the first request: lab methods the simulator lacks, and the fault knobs.
		server.Config.Handler = labHandler(server.Config.Handler, cfg.spec)
	}

	checker := &provChecker{}
	checker.Self = types.ManagedObjectReference{Type: "VirtualMachineProvisioningChecker", Value: "ProvChecker"}
	simulator.Map.Put(checker)
	simulator.Map.AddHandler(&maintenanceWatch{})

	ctx := context.Background()
	if err := populate(ctx, server.URL, cfg); err != nil {
		log.Fatal(err)
	}
	if cfg.spec != nil {
		labService = m.Service
		if err := setupLab(cfg.spec); err != nil {
			log.Fatal(err)
		}
	}
	publish()
	if cfg.spec != nil {
		labReady = true // from now on labHandler checks every login
	}

	certFile, err := server.CertificateFile()
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(certFile)

	u := *server.URL
	u.User = nil
	line, _ := json.Marshal(map[string]interface{}{
		"url":  u.String(),
		"cert": certFile,
		"hosts": func() []string {
			names := make([]string, cfg.hosts)
			for i := range names {
				names[i] = cfg.hostName(i)
			}
			return names
		}(),
	})
	fmt.Println(string(line))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if *orphanExit {
		// The parent holds our stdin; when it dies (even by SIGKILL) the pipe closes and we
		// follow, so a killed test run leaves no simulator behind.
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	<-stop
}
