//! Stock movement kinds and the sign each one carries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Goods received (purchase, reorder received): adds stock, updates average cost.
    Entry,
    /// Goods out for reasons other than a sale (damage, internal use): removes stock.
    Exit,
    /// Count correction: either sign.
    Adjustment,
    TransferOut,
    TransferIn,
    /// Goods back from a customer: adds stock.
    Return,
    /// Goods sold: removes stock.
    Sale,
    /// Opening balance implied by imported history: adds stock.
    Opening,
}

/// Which sign a movement's quantity must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    In,
    Out,
    Either,
}

impl MovementKind {
    pub const ALL: [MovementKind; 8] = [
        MovementKind::Entry,
        MovementKind::Exit,
        MovementKind::Adjustment,
        MovementKind::TransferOut,
        MovementKind::TransferIn,
        MovementKind::Return,
        MovementKind::Sale,
        MovementKind::Opening,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Entry => "entry",
            MovementKind::Exit => "exit",
            MovementKind::Adjustment => "adjustment",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
            MovementKind::Return => "return",
            MovementKind::Sale => "sale",
            MovementKind::Opening => "opening",
        }
    }

    pub fn sign(self) -> Sign {
        match self {
            MovementKind::Entry | MovementKind::TransferIn | MovementKind::Return | MovementKind::Opening => Sign::In,
            MovementKind::Exit | MovementKind::TransferOut | MovementKind::Sale => Sign::Out,
            MovementKind::Adjustment => Sign::Either,
        }
    }

    /// The signed quantity of a movement of this kind: callers give positive quantities for
    /// in/out kinds and a signed delta for adjustments.
    pub fn signed(self, quantity: i64) -> Result<i64, ValidationError> {
        if quantity == 0 {
            return Err(ValidationError::new("quantity", "must not be zero"));
        }
        match self.sign() {
            Sign::Either => Ok(quantity),
            _ if quantity < 0 => Err(ValidationError::new(
                "quantity",
                format!("must be positive for a {} movement", self),
            )),
            Sign::In => Ok(quantity),
            Sign::Out => Ok(-quantity),
        }
    }
}

impl fmt::Display for MovementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MovementKind {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MovementKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ValidationError::new("kind", format!("unknown movement kind '{s}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs() {
        assert_eq!(MovementKind::Entry.signed(5).unwrap(), 5);
        assert_eq!(MovementKind::Sale.signed(5).unwrap(), -5);
        assert_eq!(MovementKind::Adjustment.signed(-3).unwrap(), -3);
        assert!(MovementKind::Exit.signed(-3).is_err());
        assert!(MovementKind::Entry.signed(0).is_err());
        for k in MovementKind::ALL {
            assert_eq!(k.as_str().parse::<MovementKind>().unwrap(), k);
        }
    }
}
