//! 报考流程: the progress nodes the mini-program draws, derived from state and district flags.
//!
//! 填写信息 → (上传材料, online confirmation only) → 提交信息 → 报名确认 → 资格审核 →
//! (报名缴费, online payment only). Each node is done (深蓝), current (浅蓝) or pending.

use super::application::{Application, LapseReason, Status};
use crate::reference::District;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Done,
    Current,
    Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Fill,
    Upload,
    Submit,
    Confirm,
    Review,
    Pay,
}

impl NodeKind {
    pub fn title(self) -> &'static str {
        match self {
            NodeKind::Fill => "填写信息",
            NodeKind::Upload => "上传材料",
            NodeKind::Submit => "提交信息",
            NodeKind::Confirm => "报名确认",
            NodeKind::Review => "资格审核",
            NodeKind::Pay => "报名缴费",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    pub node: NodeKind,
    pub title: &'static str,
    pub state: NodeState,
}

/// The nodes for this application in this district.
pub fn progress(app: &Application, district: &District) -> Vec<Node> {
    let mut kinds = vec![NodeKind::Fill];
    if district.online_confirmation {
        kinds.push(NodeKind::Upload);
    }
    kinds.extend([NodeKind::Submit, NodeKind::Confirm, NodeKind::Review]);
    if district.online_payment {
        kinds.push(NodeKind::Pay);
    }
    // The first node not yet done is current; everything before it is done.
    let filled = app.pages.complete() && app.photo.is_some();
    let current = match app.status {
        Status::Draft if !filled => Some(NodeKind::Fill),
        Status::Draft if district.online_confirmation && !app.materials_complete => Some(NodeKind::Upload),
        Status::Draft => Some(NodeKind::Submit),
        Status::ConfirmRejected => Some(NodeKind::Upload),
        Status::Submitted => Some(NodeKind::Confirm),
        Status::Confirmed | Status::SiteApproved | Status::Rejected => Some(NodeKind::Review),
        Status::Approved if district.online_payment => Some(NodeKind::Pay),
        Status::Approved | Status::Paid => None,
        // Lapsed: the node it stopped at stays current, so the candidate sees where.
        Status::Lapsed => Some(match app.lapse_reason {
            Some(LapseReason::NotPaid) => NodeKind::Pay,
            Some(LapseReason::NotResubmitted) => NodeKind::Upload,
            _ => NodeKind::Confirm,
        }),
    };
    let pos = current.and_then(|c| kinds.iter().position(|k| *k == c)).unwrap_or(kinds.len());
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| Node {
            node: *k,
            title: k.title(),
            state: match i.cmp(&pos) {
                std::cmp::Ordering::Less => NodeState::Done,
                std::cmp::Ordering::Equal => NodeState::Current,
                std::cmp::Ordering::Greater => NodeState::Pending,
            },
        })
        .collect()
}
