// Package modem diagnoses a cellular modem over its AT port (or through
// ModemManager's mmcli): is the port alive, is the SIM ready, what does the
// radio measure, is the modem registered, with which operator, and does the
// data context (PDP) have an IP address. The commonest trap it names: good
// signal and "registered", but a wrong APN, so no data path.
//
// Start with Probe: it takes an open port (a serial device or a TCP raw AT
// port; OpenPort opens either, the serial device through package
// serialport's rules, and ReportOpenFailure words a port it could not open)
// and returns a Result whose Report method adds
// the checks modem.port, modem.sim, modem.signal, modem.registration,
// modem.operator and modem.pdp to a diag/report.Report. ProbeMMCLI does the
// same from `mmcli -m any -J`.
//
// The probe is read-only: it sends queries, AT, ATE0/ATE1 and AT+CMEE=2
// (both restored afterwards) and, when asked, one AT+CPIN with the SIM's
// PIN. Session refuses every other setter (AT&W, +CGDCONT=, +COPS=,
// +CFUN=, +CGACT= ...), so a mistake here cannot reconfigure a modem.
//
// One small parser per AT answer, in the style of ModemManager's
// mm-modem-helpers.c (ParseCSQ, ParseCEREG, ParseCGDCONT ...), each tested
// on verbatim transcripts; testdata/transcripts holds one golden session per
// vendor dialect (Quectel, Sierra Wireless, u-blox, Telit), each naming the
// manual it follows and whether it was checked against a real modem.
package modem
