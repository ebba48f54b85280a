//! The broker's common messages, natively: a method call received and
//! answered, an answer delivered, a call sent. Each does what Twisted's
//! broker code does for that message (`_recvMessage`,
//! `Referenceable.remoteMessageReceived`, `serialize`, `_sendAnswer`;
//! pbfast's `proto_answer`; `_sendMessage`), in as few Python calls as those
//! semantics allow, and only for brokers and objects that keep the stock
//! methods ([`stock`]); anything else, and every error, goes back to the
//! Python code that handles it as Twisted does.

pub mod calls;
pub mod found_absent;
pub mod outgoing;
pub mod stock;
