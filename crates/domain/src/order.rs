//! The life cycle of a sales order (seed 004's saga):
//! pending → confirmed → processing → shipped → delivered → completed, or cancelled before
//! shipping; returned after shipping. Confirm reserves stock, cancel releases it, ship commits
//! the reservations into stock exits, return books the goods back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Processing,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Returned,
}

/// An action on an order, each with the states it may start from and the state it leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAction {
    Confirm,
    Process,
    Ship,
    Deliver,
    Complete,
    Cancel,
    Return,
}

impl OrderAction {
    pub fn target(self) -> OrderStatus {
        match self {
            OrderAction::Confirm => OrderStatus::Confirmed,
            OrderAction::Process => OrderStatus::Processing,
            OrderAction::Ship => OrderStatus::Shipped,
            OrderAction::Deliver => OrderStatus::Delivered,
            OrderAction::Complete => OrderStatus::Completed,
            OrderAction::Cancel => OrderStatus::Cancelled,
            OrderAction::Return => OrderStatus::Returned,
        }
    }

    pub fn allowed_from(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            OrderAction::Confirm => &[Pending],
            OrderAction::Process => &[Confirmed],
            OrderAction::Ship => &[Confirmed, Processing],
            OrderAction::Deliver => &[Shipped],
            OrderAction::Complete => &[Delivered],
            OrderAction::Cancel => &[Pending, Confirmed, Processing],
            OrderAction::Return => &[Shipped, Delivered, Completed],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OrderAction::Confirm => "confirm",
            OrderAction::Process => "process",
            OrderAction::Ship => "ship",
            OrderAction::Deliver => "deliver",
            OrderAction::Complete => "complete",
            OrderAction::Cancel => "cancel",
            OrderAction::Return => "return",
        }
    }

    /// Whether the action can hold, release, sell or take back stock.
    pub fn moves_stock(self) -> bool {
        matches!(
            self,
            OrderAction::Confirm | OrderAction::Ship | OrderAction::Cancel | OrderAction::Return
        )
    }

    /// Checks that the action may run on an order in `from`.
    pub fn check(self, from: OrderStatus) -> Result<OrderStatus, String> {
        if self.allowed_from().contains(&from) {
            Ok(self.target())
        } else {
            Err(format!("cannot {} an order that is {from}", self.name()))
        }
    }
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Returned => "returned",
        }
    }

    /// Stock is reserved for the order in these states.
    pub fn holds_reservations(self) -> bool {
        matches!(self, OrderStatus::Confirmed | OrderStatus::Processing)
    }

    /// Whether an order in this state may move its payment status `from` → `to` (`unpaid`,
    /// `paid`, `refunded`): only a paid order is refunded, a refund is final, and a cancelled
    /// or returned order takes no new payment. Setting the current status again is allowed.
    pub fn check_payment(self, from: &str, to: &str) -> Result<(), String> {
        match (from, to) {
            _ if from == to => Ok(()),
            ("refunded", _) => Err("the order was refunded; its payment status is final".into()),
            (_, "refunded") if from != "paid" => Err(format!("only a paid order can be refunded; this one is {from}")),
            (_, "paid") if matches!(self, OrderStatus::Cancelled | OrderStatus::Returned) => {
                Err(format!("a {self} order cannot be paid"))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use OrderStatus::*;
        Ok(match s {
            "pending" => Pending,
            "confirmed" => Confirmed,
            "processing" => Processing,
            "shipped" => Shipped,
            "delivered" => Delivered,
            "completed" => Completed,
            "cancelled" => Cancelled,
            "returned" => Returned,
            other => {
                return Err(ValidationError::new(
                    "status",
                    format!("unknown order status '{other}'"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::OrderAction::*;
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn payment_follows_the_money() {
        assert!(Pending.check_payment("unpaid", "paid").is_ok());
        assert!(Shipped.check_payment("paid", "refunded").is_ok());
        assert!(Shipped.check_payment("paid", "unpaid").is_ok());
        assert!(Pending.check_payment("unpaid", "refunded").is_err());
        assert!(Cancelled.check_payment("unpaid", "paid").is_err());
        assert!(Returned.check_payment("unpaid", "paid").is_err());
        assert!(Returned.check_payment("paid", "refunded").is_ok());
        assert!(Completed.check_payment("refunded", "paid").is_err());
        assert!(Cancelled.check_payment("refunded", "refunded").is_ok());
    }

    #[test]
    fn happy_path() {
        let mut s = Pending;
        for action in [Confirm, Process, Ship, Deliver, Complete] {
            s = action.check(s).unwrap();
        }
        assert_eq!(s, Completed);
    }

    #[test]
    fn illegal_transitions_are_refused() {
        assert!(Ship.check(Pending).is_err());
        assert!(Cancel.check(Shipped).is_err());
        assert!(Confirm.check(Confirmed).is_err());
        assert!(Return.check(Pending).is_err());
        assert!(Complete.check(Cancelled).is_err());
        assert_eq!(Cancel.check(Processing).unwrap(), Cancelled);
        assert_eq!(Return.check(Delivered).unwrap(), Returned);
    }

    #[test]
    fn status_round_trips() {
        for s in [
            Pending, Confirmed, Processing, Shipped, Delivered, Completed, Cancelled, Returned,
        ] {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
        }
    }
}
