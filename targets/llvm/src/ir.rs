//! A thin wrapper over the inkwell builder: each operation returns this crate's
//! [`Result`] (builder failures are internal bugs naming the kernel), and the scalar
//! float helpers read like the formulas in `math.rs`.

use inkwell::builder::{Builder, BuilderError};
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::Module;
use inkwell::types::{BasicTypeEnum, FloatType, IntType};
use inkwell::values::{
    BasicMetadataValueEnum, BasicValueEnum, FloatValue, FunctionValue, IntValue,
};
use inkwell::{FloatPredicate, IntPredicate};

use crate::{LlvmError, Result};

#[derive(Clone, Copy)]
pub(crate) struct Ir<'a, 'ctx> {
    pub ctx: &'ctx Context,
    pub module: &'a Module<'ctx>,
    pub b: &'a Builder<'ctx>,
    /// The kernel (or helper) being generated, for error messages.
    pub what: &'a str,
}

impl<'ctx> Ir<'_, 'ctx> {
    pub fn err(&self, e: BuilderError) -> LlvmError {
        LlvmError::Builder {
            kernel: self.what.to_string(),
            message: e.to_string(),
        }
    }

    pub fn internal(&self, message: impl Into<String>) -> LlvmError {
        LlvmError::Builder {
            kernel: self.what.to_string(),
            message: message.into(),
        }
    }

    /// The declaration of an LLVM intrinsic, overloaded on `types`.
    pub fn intrinsic(
        &self,
        name: &str,
        types: &[BasicTypeEnum<'ctx>],
    ) -> Result<FunctionValue<'ctx>> {
        Intrinsic::find(name)
            .and_then(|i| i.get_declaration(self.module, types))
            .ok_or_else(|| self.internal(format!("LLVM intrinsic `{name}` not found")))
    }

    /// Calls a function that returns a value.
    pub fn call(
        &self,
        f: FunctionValue<'ctx>,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<BasicValueEnum<'ctx>> {
        let site = self.b.build_call(f, args, "").map_err(|e| self.err(e))?;
        match site.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(v) => Ok(v),
            inkwell::values::ValueKind::Instruction(_) => {
                Err(self.internal("call of a void function used as a value"))
            }
        }
    }

    /// Calls the float intrinsic `name` overloaded on the type of `args[0]`.
    pub fn fintr(&self, name: &str, args: &[FloatValue<'ctx>]) -> Result<FloatValue<'ctx>> {
        let ty = args
            .first()
            .ok_or_else(|| self.internal("intrinsic call without arguments"))?
            .get_type();
        let f = self.intrinsic(name, &[ty.into()])?;
        let args: Vec<BasicMetadataValueEnum<'ctx>> = args.iter().map(|a| (*a).into()).collect();
        Ok(self.call(f, &args)?.into_float_value())
    }

    pub fn fc(&self, ty: FloatType<'ctx>, v: f64) -> FloatValue<'ctx> {
        ty.const_float(v)
    }

    pub fn fadd(&self, a: FloatValue<'ctx>, b: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
        self.b.build_float_add(a, b, "").map_err(|e| self.err(e))
    }
    pub fn fsub(&self, a: FloatValue<'ctx>, b: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
        self.b.build_float_sub(a, b, "").map_err(|e| self.err(e))
    }
    pub fn fmul(&self, a: FloatValue<'ctx>, b: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
        self.b.build_float_mul(a, b, "").map_err(|e| self.err(e))
    }
    pub fn fdiv(&self, a: FloatValue<'ctx>, b: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
        self.b.build_float_div(a, b, "").map_err(|e| self.err(e))
    }
    pub fn fneg(&self, a: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
        self.b.build_float_neg(a, "").map_err(|e| self.err(e))
    }
    /// `a * b + c` with one rounding (`llvm.fma`).
    pub fn fma(
        &self,
        a: FloatValue<'ctx>,
        b: FloatValue<'ctx>,
        c: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        self.fintr("llvm.fma", &[a, b, c])
    }
    pub fn fabs(&self, a: FloatValue<'ctx>) -> Result<FloatValue<'ctx>> {
        self.fintr("llvm.fabs", &[a])
    }
    pub fn copysign(
        &self,
        mag: FloatValue<'ctx>,
        sign: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        self.fintr("llvm.copysign", &[mag, sign])
    }
    pub fn fcmp(
        &self,
        p: FloatPredicate,
        a: FloatValue<'ctx>,
        b: FloatValue<'ctx>,
    ) -> Result<IntValue<'ctx>> {
        self.b
            .build_float_compare(p, a, b, "")
            .map_err(|e| self.err(e))
    }
    pub fn is_nan(&self, a: FloatValue<'ctx>) -> Result<IntValue<'ctx>> {
        self.fcmp(FloatPredicate::UNO, a, a)
    }
    pub fn icmp(
        &self,
        p: IntPredicate,
        a: IntValue<'ctx>,
        b: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>> {
        self.b
            .build_int_compare(p, a, b, "")
            .map_err(|e| self.err(e))
    }
    pub fn fsel(
        &self,
        c: IntValue<'ctx>,
        a: FloatValue<'ctx>,
        b: FloatValue<'ctx>,
    ) -> Result<FloatValue<'ctx>> {
        Ok(self
            .b
            .build_select(c, a, b, "")
            .map_err(|e| self.err(e))?
            .into_float_value())
    }
    pub fn isel(
        &self,
        c: IntValue<'ctx>,
        a: IntValue<'ctx>,
        b: IntValue<'ctx>,
    ) -> Result<IntValue<'ctx>> {
        Ok(self
            .b
            .build_select(c, a, b, "")
            .map_err(|e| self.err(e))?
            .into_int_value())
    }
    pub fn and(&self, a: IntValue<'ctx>, b: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        self.b.build_and(a, b, "").map_err(|e| self.err(e))
    }
    pub fn or(&self, a: IntValue<'ctx>, b: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        self.b.build_or(a, b, "").map_err(|e| self.err(e))
    }
    pub fn not(&self, a: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        self.b.build_not(a, "").map_err(|e| self.err(e))
    }
    pub fn iadd(&self, a: IntValue<'ctx>, b: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        self.b.build_int_add(a, b, "").map_err(|e| self.err(e))
    }
    pub fn isub(&self, a: IntValue<'ctx>, b: IntValue<'ctx>) -> Result<IntValue<'ctx>> {
        self.b.build_int_sub(a, b, "").map_err(|e| self.err(e))
    }
    pub fn bits_of(&self, a: FloatValue<'ctx>, ty: IntType<'ctx>) -> Result<IntValue<'ctx>> {
        Ok(self
            .b
            .build_bit_cast(a, ty, "")
            .map_err(|e| self.err(e))?
            .into_int_value())
    }
    pub fn float_of(&self, a: IntValue<'ctx>, ty: FloatType<'ctx>) -> Result<FloatValue<'ctx>> {
        Ok(self
            .b
            .build_bit_cast(a, ty, "")
            .map_err(|e| self.err(e))?
            .into_float_value())
    }
    /// Horner evaluation of `coeffs[0]·x^(n-1) + … + coeffs[n-1]` with fused steps.
    pub fn poly(&self, x: FloatValue<'ctx>, coeffs: &[f64]) -> Result<FloatValue<'ctx>> {
        let ty = x.get_type();
        let mut it = coeffs.iter();
        let mut acc = self.fc(ty, it.next().copied().unwrap_or(0.0));
        for &c in it {
            acc = self.fma(acc, x, self.fc(ty, c))?;
        }
        Ok(acc)
    }
}
