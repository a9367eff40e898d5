// A custom OpenVINO operation for the --cpu_extension tests: AddOne (version "extension"),
// y = x + 1 for f32 tensors, run by the CPU plugin through evaluate().
#include <memory>
#include <vector>

#include <openvino/core/extension.hpp>
#include <openvino/core/op_extension.hpp>
#include <openvino/op/op.hpp>

namespace ovserve_test {

class AddOne : public ov::op::Op {
public:
    OPENVINO_OP("AddOne");

    AddOne() = default;
    explicit AddOne(const ov::Output<ov::Node>& input) : Op({input}) {
        constructor_validate_and_infer_types();
    }

    void validate_and_infer_types() override {
        set_output_type(0, get_input_element_type(0), get_input_partial_shape(0));
    }

    std::shared_ptr<ov::Node> clone_with_new_inputs(const ov::OutputVector& inputs) const override {
        return std::make_shared<AddOne>(inputs.at(0));
    }

    bool visit_attributes(ov::AttributeVisitor&) override {
        return true;
    }

    bool has_evaluate() const override {
        return get_input_element_type(0) == ov::element::f32;
    }

    bool evaluate(ov::TensorVector& outputs, const ov::TensorVector& inputs) const override {
        const ov::Tensor& in = inputs[0];
        ov::Tensor& out = outputs[0];
        out.set_shape(in.get_shape());
        const float* source = in.data<const float>();
        float* target = out.data<float>();
        for (size_t i = 0; i < in.get_size(); ++i) {
            target[i] = source[i] + 1.0f;
        }
        return true;
    }
};

}  // namespace ovserve_test

OPENVINO_CREATE_EXTENSIONS(std::vector<ov::Extension::Ptr>({std::make_shared<ov::OpExtension<ovserve_test::AddOne>>()}));
