// Package kclgo is the root of the kclgo SDK: Go record processors for the
// Amazon Kinesis Client Library (KCL) MultiLangDaemon.
//
// The packages users import:
//
//   - [github.com/kclgo/kclgo/kcl]: the RecordProcessor interface and the Run
//     function a processor binary calls from main.
//   - [github.com/kclgo/kclgo/checkpointer]: checkpoint policies for the
//     per-record API.
//   - [github.com/kclgo/kclgo/protocol]: the MultiLangDaemon wire protocol.
//   - [github.com/kclgo/kclgo/deagg]: the KPL aggregated record format.
package kclgo
